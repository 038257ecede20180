# Performance (issue #9): the context sweep of every architecture (training tokens/s and peak step
# memory against T, benchmarks/scaling.py) and the runtime table of the whole workflow
# (benchmarks/dag_time.py, from every job's `benchmark:` file). Included after every experiment
# and before report.smk: runtime_table waits for all other declared outputs.
PERF = config["performance"]
PERF_SCRIPTS = Path(workflow.basedir) / "benchmarks"
localrules: runtime_table

PERF_NOTE = (
    f"{', '.join(PERF['architectures'])}; {PERF['model']}, batch {PERF['batch_size']}, contexts "
    f"{sorted(PERF['contexts'])}, best of {PERF['rounds']} interleaved steps, {PERF['precision']}"
)


rule perf_scaling:
    output:
        png=declare_output(
            f"{FIGURES}/perf_scaling.png",
            "Performance: training throughput and memory against the context length",
            "Issue #9 (not a paper figure): tokens/s of a forward + backward + AdamW step at a fixed "
            "batch, and the step's peak memory (fresh process each), against T. Attention-like "
            "mixing (transformer, the mosaic's kernel smoothing) costs O(T) per token, recurrent "
            "and state-space models O(1); with fused attention no T x T matrix is stored, so memory "
            "grows linearly for all. Timings are from the machine and the moment of the run.",
            "Performance",
            scale_note=PERF_NOTE,
        ),
    params:
        cfg=section_json("performance"),
        script=str(PERF_SCRIPTS / "bench_models.py"),
    # Every core: no other job runs while this one times (the timings would measure them).
    # On a cluster it is one evaluation-sized job (on the accelerator the models train on).
    threads: workflow.cores
    resources:
        **job_resources("lm_eval"),
    log:
        f"{LOGS}/performance/perf_scaling.log",
    benchmark:
        f"{BENCHMARKS}/performance/perf_scaling.tsv"
    shell:
        "python {params.script:q} --config-json {params.cfg:q} --scaling-figure {output.png:q}"
        " --device {DEVICE} --threads {threads} > {log:q} 2>&1"


RUNTIME_CSV = f"{TABLES}/runtime.csv"


rule runtime_table:
    input:
        # every other declared output: the table is the last step before results/README.md
        lambda wildcards: [t for t in ALL_TARGETS if t != RUNTIME_CSV],
    output:
        csv=declare_output(
            RUNTIME_CSV,
            "Runtime of the workflow",
            "Every job with a `benchmark:` file (training, evaluation, data; plots and small tables "
            "are not timed): wall and CPU seconds and peak resident memory as Snakemake measured "
            "them, with totals per experiment, per architecture of the config and overall. Jobs "
            "that ran side by side share the cores, so wall times add up to more than the run took.",
            "Performance",
        ),
        md=f"{TABLES}/runtime.md",
    params:
        benchmarks=BENCHMARKS,
        script=str(PERF_SCRIPTS / "dag_time.py"),
        rules=lambda wildcards: json.dumps(
            {r.name: str(r.benchmark) for r in workflow.rules if r.benchmark}, sort_keys=True
        ),
        cfg=json.dumps(config, sort_keys=True, separators=(",", ":")),
        out=f"{TABLES}/runtime",
    log:
        f"{LOGS}/performance/runtime_table.log",
    shell:
        "python {params.script:q} --benchmarks {params.benchmarks:q} --out {params.out:q}"
        " --rules-json {params.rules:q} --config-json {params.cfg:q} > {log:q} 2>&1"
