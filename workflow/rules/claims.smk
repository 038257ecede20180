# The reproduction scorecard (mosaic.experiments.claims): every claim of the paper, C1-C12, tested
# on this run's outputs with its statistic, 95% bootstrap interval and verdict. Included after the
# experiments; it reads every declared output (and the files behind them), so it runs last but one.
# Listed first in results/README.md and in the Snakemake report.
CLAIMS_CSV = f"{TABLES}/claims.csv"
localrules: claims


rule claims:
    input:
        lambda wildcards: [t for t in ALL_TARGETS if t not in (CLAIMS_CSV, f"{TABLES}/runtime.csv")],
    output:
        csv=declare_output(
            CLAIMS_CSV,
            "Reproduction scorecard: the paper's claims C1-C12",
            "Each claim of the paper (stated in our words, with where the paper makes it), the statistic "
            "that tests it and the rule that decides it, this run's value with its 95% bootstrap interval "
            "over independent units (windows, sequences, automata), and the verdict: holds, fails, "
            "inconclusive (the interval straddles the boundary), not run (the experiment is not in this "
            "run) or not judged (qualitative).",
            "Reproduction scorecard",
            first=True,
        ),
        md=f"{TABLES}/claims.md",
    params:
        results=RESULTS,
        tables=TABLES,
        scale=SCALE,
    log:
        f"{LOGS}/claims.log",
    shell:
        "python -m mosaic claims --results {params.results:q} --scale {params.scale:q} --out {params.tables}/claims > {log:q} 2>&1"
