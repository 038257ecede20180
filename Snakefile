# Memory Mosaics (Zhang et al., ICLR 2025): every figure and table of the paper, as one DAG.
#
#   snakemake --cores all                               default scale (CPU, about an hour)
#   snakemake --cores all --configfile config/smoke.yaml   a few minutes, checks the pipeline
#   snakemake --cores all --configfile config/paper.yaml   the paper's sizes (GPU)
#   snakemake fig04                                     one figure (each has a short target rule)
#
# Outputs go to results/ (see results/README.md, generated); the profile in profiles/default is
# picked up automatically. Every step is also a CLI: `python -m mosaic.<module> --help`.

configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
# -- experiments: one rules file each (add a line when adding an experiment) --
include: "workflow/rules/three_moons.smk"
include: "workflow/rules/stories.smk"
include: "workflow/rules/analyses.smk"  # after stories.smk: reads its runs and rules
include: "workflow/rules/regbench.smk"
include: "workflow/rules/induction.smk"
# -- the scorecard of the paper's claims, from every experiment's outputs --
include: "workflow/rules/claims.smk"
include: "workflow/rules/performance.smk"  # after the experiments: times them all
# -- generated index of every declared output: must come after the experiments --
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        lambda wildcards: ALL_TARGETS,
        f"{RESULTS}/README.md",
        f"{RESULTS}/outputs.json",
