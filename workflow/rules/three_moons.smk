# Three moons (paper section 3): Figs. 4, 5, 6 and the transition check.
#
#   train (one_head, three_heads) -> evaluate -> fig04 / fig05 / three_moons_transitions
#                                 -> fig06 (weights of the 3-head model, decoupling table)
#
# Every step is `python -m mosaic three-moons <subcommand>`; see mosaic/three_moons/__main__.py.

# each step reads the data and model keys, plus its own: training never sees `eval`, the evaluation
# and figures never see `train` (so changing one reruns only the steps that read it)
TM_KEYS = [k for k in config["three_moons"] if k not in ("train", "eval")]
TM_TRAIN_CFG = section_json("three_moons", *TM_KEYS, "train")
TM_CFG = section_json("three_moons", *TM_KEYS, "eval")
TM_THREADS = config["three_moons"]["threads"]
TM_RUNS_DIR = f"{RUNS}/three_moons"
TM_HEADS = {"one_head": 1, "three_heads": 3}
TM_FIGURES = {"one_head": "fig04", "three_heads": "fig05"}
_TM_TRAIN = config["three_moons"]["train"]
_TM_EVAL = config["three_moons"]["eval"]
TM_SCALE_NOTE = (
    f"{_TM_TRAIN['max_steps']} steps x batch {_TM_TRAIN['batch_size']} (paper: 500 x 64); "
    f"contexts {_TM_EVAL['context_min']}..{_TM_EVAL['context_max']} every {_TM_EVAL['context_step']} "
    f"(paper: every one), {_TM_EVAL['windows']} windows (paper: 512)"
)
TM_RUN_DIRS = [f"{TM_RUNS_DIR}/{run}" for run in TM_HEADS]
TM_TRANSITIONS = f"{TABLES}/three_moons_transitions.csv"  # the numbers behind Figs. 4 and 5

wildcard_constraints:
    tm_run="one_head|three_heads",


# Figures and tables read results and run on the submitting node; model runs are cluster jobs
# (resources: job_resources(kind), config `resources`).
localrules: three_moons_figure, three_moons_transitions_table, three_moons_weights


rule three_moons_train:
    output:
        done=f"{TM_RUNS_DIR}/{{tm_run}}/done.json",
        weights=f"{TM_RUNS_DIR}/{{tm_run}}/model.safetensors",
    params:
        cfg=TM_TRAIN_CFG,
        heads=lambda wildcards: TM_HEADS[wildcards.tm_run],
        out=lambda wildcards: f"{TM_RUNS_DIR}/{wildcards.tm_run}",
    threads: TM_THREADS
    resources:
        **job_resources("three_moons"),
    log:
        f"{LOGS}/three_moons/train_{{tm_run}}.log",
    benchmark:
        f"{BENCHMARKS}/three_moons/train_{{tm_run}}.tsv"
    shell:
        "python -m mosaic three-moons train --heads {params.heads} --out {params.out:q}"
        " --config-json {params.cfg:q} --device {DEVICE} --threads {threads} > {log:q} 2>&1"


rule three_moons_evaluate:
    input:
        f"{TM_RUNS_DIR}/{{tm_run}}/done.json",
    output:
        curves=f"{TM_RUNS_DIR}/{{tm_run}}/eval.csv",
        windows=f"{TM_RUNS_DIR}/{{tm_run}}/eval_windows.csv.gz",  # per-window errors: the bootstrap's units
    params:
        cfg=TM_CFG,
        run=lambda wildcards: f"{TM_RUNS_DIR}/{wildcards.tm_run}",
    threads: TM_THREADS
    resources:
        **job_resources("three_moons"),
    log:
        f"{LOGS}/three_moons/evaluate_{{tm_run}}.log",
    benchmark:
        f"{BENCHMARKS}/three_moons/evaluate_{{tm_run}}.tsv"
    shell:
        "python -m mosaic three-moons evaluate --run {params.run:q} --out {output.curves:q}"
        " --config-json {params.cfg:q} --device {DEVICE} --threads {threads} > {log:q} 2>&1"


rule three_moons_figure:
    input:
        f"{TM_RUNS_DIR}/{{tm_run}}/eval.csv",
    output:
        png=f"{FIGURES}/{{fig}}_three_moons_{{tm_run}}.png",
        pdf=f"{FIGURES}/{{fig}}_three_moons_{{tm_run}}.pdf",
        csv=f"{FIGURES}/{{fig}}_three_moons_{{tm_run}}.csv",
    wildcard_constraints:
        fig="fig04|fig05",
    params:
        cfg=TM_CFG,
        title=lambda wildcards: (
            "Three moons, one head: forecast error vs context length" if wildcards.tm_run == "one_head"
            else "Three moons, three heads: forecast error vs context length"),
    threads: 1
    log:
        f"{LOGS}/three_moons/{{fig}}_{{tm_run}}.log",
    benchmark:
        f"{BENCHMARKS}/three_moons/{{fig}}_{{tm_run}}.tsv"
    shell:
        "python -m mosaic three-moons figure --eval {input:q} --out {output.png:q} --title {params.title:q}"
        " --config-json {params.cfg:q} > {log:q} 2>&1"


rule three_moons_transitions_table:
    input:
        expand(f"{TM_RUNS_DIR}/{{tm_run}}/eval.csv", tm_run=list(TM_HEADS)),
    output:
        csv=f"{TABLES}/three_moons_transitions.csv",
        md=f"{TABLES}/three_moons_transitions.md",
    params:
        cfg=TM_CFG,
        evals=lambda wildcards, input: " ".join(f"--eval '{p}'" for p in input),
    threads: 1
    log:
        f"{LOGS}/three_moons/transitions.log",
    benchmark:
        f"{BENCHMARKS}/three_moons/transitions.tsv"
    shell:
        "python -m mosaic three-moons transitions {params.evals} --out {output.csv:q}"
        " --config-json {params.cfg:q} > {log:q} 2>&1"


rule three_moons_weights:
    input:
        three=f"{TM_RUNS_DIR}/three_heads/done.json",
        one=f"{TM_RUNS_DIR}/one_head/done.json",
    output:
        png=f"{FIGURES}/fig06_three_moons_weights.png",
        pdf=f"{FIGURES}/fig06_three_moons_weights.pdf",
        csv=f"{FIGURES}/fig06_three_moons_weights.csv",
        table=f"{TABLES}/three_moons_decoupling.csv",
        table_md=f"{TABLES}/three_moons_decoupling.md",
    params:
        tm_runs_dir=TM_RUNS_DIR,
        cfg=TM_CFG,
        title="Three moons, three heads: learned complex weights",
    threads: 1
    log:
        f"{LOGS}/three_moons/fig06.log",
    benchmark:
        f"{BENCHMARKS}/three_moons/fig06.tsv"
    shell:
        "python -m mosaic three-moons weights --run {params.tm_runs_dir}/three_heads --contrast-run {params.tm_runs_dir}/one_head"
        " --out {output.png:q} --table {output.table:q} --title {params.title:q}"
        " --config-json {params.cfg:q} > {log:q} 2>&1"


# -- named targets (outputs registered for `all` and results/README.md) -----------------------------
rule fig04:
    input:
        declare_output(
            f"{FIGURES}/fig04_three_moons_one_head.png", "Figure 4: three moons, one head",
            "Mean absolute error of 25 autoregressive predictions against context length, for a "
            "training triple and the held-out triple (grey: individual periods, red: common period). "
            "Paper: with a single memory unit the error drops sharply only once the context holds "
            "a full common period (lcm) of the three moons.",
            "Three moons (section 3)", TM_SCALE_NOTE, runs=[f"{TM_RUNS_DIR}/one_head"],
            summary=TM_TRANSITIONS),


rule fig05:
    input:
        declare_output(
            f"{FIGURES}/fig05_three_moons_three_heads.png", "Figure 5: three moons, three heads",
            "As Fig. 4 with three memory units. Paper: predictive disentanglement (one moon per "
            "unit) makes the model accurate once the context covers the slowest individual period, "
            "long before it has seen every configuration (the common period), also on the held-out "
            "triple.",
            "Three moons (section 3)", TM_SCALE_NOTE, runs=[f"{TM_RUNS_DIR}/three_heads"],
            summary=TM_TRANSITIONS),


rule fig06:
    input:
        declare_output(
            f"{FIGURES}/fig06_three_moons_weights.png", "Figure 6: three moons, learned weights",
            "Moduli and phases of the learned 3x3 complex matrices W_phi, W_psi, W_z of the 3-head "
            "model. Paper: training disentangles the moons: each unit's key and value read one "
            "moon and W_z routes it back (permutation-like moduli).",
            "Three moons (section 3)", TM_SCALE_NOTE, runs=TM_RUN_DIRS,
            summary=f"{TABLES}/three_moons_decoupling.csv"),
        declare_output(
            f"{TABLES}/three_moons_decoupling.csv", "Three moons: decoupling scores",
            "Fraction of each learned matrix's mass sum|W_ij| on its best permutation (1 = one moon "
            "per unit, 1/3 = uniform), for the 3-head model and the 1-head model as contrast; "
            "'consistent' = W_phi, W_psi and W_z route each unit to the same moon.",
            "Three moons (section 3)", TM_SCALE_NOTE, runs=TM_RUN_DIRS),


rule three_moons_transitions:
    input:
        declare_output(
            f"{TABLES}/three_moons_transitions.csv", "Three moons: where the error falls",
            "For each error curve of Figs. 4-5: the share of its fall made before the context holds "
            "the common period (95% bootstrap interval over windows), its largest drop and its steps "
            "(observations), and the verdict on the paper's claim. Paper: 1 head -> one drop at the "
            "common period, none at the individual periods (C1); 3 heads -> steps at the individual "
            "periods, low once the slowest is covered, before the common period (C2).",
            "Three moons (section 3)", TM_SCALE_NOTE, runs=TM_RUN_DIRS),
