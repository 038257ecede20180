# results/README.md: the generated index of every output declared with declare_output()
# (included after all experiment rules, so DECLARED_OUTPUTS is complete). outputs.json lists the
# declared paths for tests and scripts. The same entries are the Snakemake report's contents:
#   snakemake --report results/report.html         (after `snakemake`; or after `snakemake fig04`
#   snakemake fig04 --report results/fig04.html     for the outputs of one target)
localrules: results_index


rule results_index:
    input:
        lambda wildcards: ALL_TARGETS,
    output:
        readme=f"{RESULTS}/README.md",
        outputs=f"{RESULTS}/outputs.json",
        captions=directory(str(REPORT_CAPTIONS)),
    params:
        manifest=lambda wildcards: json.dumps(DECLARED_OUTPUTS, sort_keys=True),
        scale=SCALE,
    log:
        f"{LOGS}/results_index.log",
    shell:
        "python -m mosaic results-index --manifest-json {params.manifest:q} --scale {params.scale:q}"
        " --readme {output.readme:q} --outputs-json {output.outputs:q} --captions {output.captions:q} > {log:q} 2>&1"
