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
    params:
        manifest=lambda wildcards: json.dumps(DECLARED_OUTPUTS, sort_keys=True),
        scale=SCALE,
    log:
        f"{LOGS}/results_index.log",
    shell:
        "python -m mosaic results-index --manifest-json {params.manifest:q} --scale {params.scale:q}"
        " --readme {output.readme:q} --outputs-json {output.outputs:q} > {log:q} 2>&1"


# Report captions are files (report(caption=...) takes a path) and hold this run's numbers, so
# they are written when a report is being built, from the results as they are then; otherwise
# only missing ones are written (Snakemake reads them only for --report). Cluster jobs skip this.
def _building_report():
    return any(arg == "--report" or arg.startswith("--report=") for arg in sys.argv)


_captions = {entry["path"]: str(caption_path(entry["path"])) for entry in DECLARED_OUTPUTS}
if not (workflow.remote_exec or workflow.subprocess_exec) and (
    _building_report() or not all(Path(c).is_file() for c in _captions.values())
):
    from mosaic.harness.results_index import write_captions

    write_captions(DECLARED_OUTPUTS, SCALE, _captions)
