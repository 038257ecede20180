# Induction heads in one block (paper footnote 5; the in-context recall task of Bietti et al. 2023):
#
#   for every architecture x depth: induction_train -> induction_evaluate (held-out sequences)
#   -> induction_table (accuracy with bootstrap CIs), induction_figure (recall accuracy vs step)
#
# Every step is `python -m mosaic induction <subcommand>` (mosaic/experiments/induction/cli.py);
# the scorecard row C12 reads the runs' eval.csv (mosaic/experiments/induction/claims.py).
import re
import shlex

IND = config["induction"]
IND_RUNS = f"{RUNS}/induction"
# A run directory is named after its architecture and depth; plug-in paths get a safe slug.
IND_ARCHS = {arch_slug(a): a for a in IND["architectures"]}
IND_DEPTHS = sorted(IND["depths"])
IND_RUN_NAMES = [f"{slug}_L{depth}" for slug in IND_ARCHS for depth in IND_DEPTHS]
IND_RUN_DIRS = [f"{IND_RUNS}/{name}" for name in IND_RUN_NAMES]
IND_TABLE = f"{TABLES}/induction_accuracy.csv"
_IND_TASK = IND["task"]
IND_SCALE_NOTE = (
    f"{IND['train']['max_steps']} steps x batch {IND['batch_size']}; vocabulary {_IND_TASK['vocab_size']}, "
    f"{_IND_TASK['seq_len']}-token sequences, {_IND_TASK['n_triggers']} triggers per sequence, uniform "
    f"background (Bietti et al.: 65 characters, 256 tokens, Shakespeare bigram background); width "
    f"{IND['model'].get('n_embd')}, {IND['model'].get('n_head')} heads; {IND['eval']['sequences']} "
    "held-out sequences"
)

wildcard_constraints:
    ind_run="|".join(re.escape(name) for name in IND_RUN_NAMES),


def ind_run_arch(wildcards):
    """The architecture (registry name or plug-in path) of run `ind_run`."""
    return IND_ARCHS[wildcards.ind_run.rsplit("_L", 1)[0]]


def ind_train_json(wildcards):
    """What a training run reads: the section less the lists of runs, the evaluation and other
    architectures' options, so adding an architecture, a depth or changing the evaluation does
    not retrain existing runs."""
    arch = ind_run_arch(wildcards)
    keep = {k: IND[k] for k in ("task", "model", "batch_size", "train")}
    keep["arch_options"] = {arch: (IND.get("arch_options") or {}).get(arch) or {}}
    return json.dumps(keep, sort_keys=True, separators=(",", ":"))


# Figures and tables read results and run on the submitting node; model runs are cluster jobs
# (resources: job_resources(kind), config `resources`).
localrules: induction_table, induction_figure


rule induction_train:
    output:
        # Only done.json (written last, after the weights): recall.jsonl (the figure's curve) is
        # not declared, since Snakemake would delete it before re-running an interrupted job, which
        # resumes from its checkpoint with it; the weights file is named by the trainer.
        done=f"{IND_RUNS}/{{ind_run}}/done.json",
    params:
        cfg=ind_train_json,
        arch=ind_run_arch,
        depth=lambda wildcards: int(wildcards.ind_run.rsplit("_L", 1)[1]),
        run=lambda wildcards: f"{IND_RUNS}/{wildcards.ind_run}",
    threads: IND["threads"]
    resources:
        **job_resources("lm_train"),
    log:
        f"{LOGS}/induction/train_{{ind_run}}.log",
    benchmark:
        f"{BENCHMARKS}/induction/train_{{ind_run}}.tsv"
    shell:
        "python -m mosaic induction train --config-json {params.cfg:q} --arch {params.arch:q} --depth {params.depth}"
        " --out {params.run:q} --device {DEVICE} --threads {threads} > {log:q} 2>&1"


rule induction_evaluate:
    input:
        f"{IND_RUNS}/{{ind_run}}/done.json",
    output:
        f"{IND_RUNS}/{{ind_run}}/eval.csv",
    params:
        cfg=lambda wildcards: json.dumps({"eval": IND["eval"]}, sort_keys=True, separators=(",", ":")),
        plugins=lambda wildcards: plugin_args([ind_run_arch(wildcards)]),
        run=lambda wildcards: f"{IND_RUNS}/{wildcards.ind_run}",
    threads: IND["threads"]
    resources:
        **job_resources("lm_eval"),
    log:
        f"{LOGS}/induction/evaluate_{{ind_run}}.log",
    benchmark:
        f"{BENCHMARKS}/induction/evaluate_{{ind_run}}.tsv"
    shell:
        "python -m mosaic induction evaluate --config-json {params.cfg:q} --run {params.run:q} {params.plugins}"
        " --out {output:q} --device {DEVICE} --threads {threads} > {log:q} 2>&1"


rule induction_table:
    input:
        [f"{run}/eval.csv" for run in IND_RUN_DIRS],
    output:
        csv=IND_TABLE,
        md=f"{TABLES}/induction_accuracy.md",
    params:
        evals=lambda wildcards, input: " ".join(f"--eval {shlex.quote(p)}" for p in input),
    threads: 1
    log:
        f"{LOGS}/induction/table.log",
    benchmark:
        f"{BENCHMARKS}/induction/table.tsv"
    shell:
        "python -m mosaic induction table {params.evals} --out {output.csv:q} > {log:q} 2>&1"


rule induction_figure:
    input:
        [f"{run}/done.json" for run in IND_RUN_DIRS],
    output:
        png=f"{FIGURES}/induction_heads.png",
        pdf=f"{FIGURES}/induction_heads.pdf",
        csv=f"{FIGURES}/induction_heads.csv",
    params:
        runs=" ".join(f"--run {shlex.quote(run)}" for run in IND_RUN_DIRS),
        title="Induction heads: recall accuracy during training",
    threads: 1
    log:
        f"{LOGS}/induction/figure.log",
    benchmark:
        f"{BENCHMARKS}/induction/figure.tsv"
    shell:
        "python -m mosaic induction figure {params.runs} --out {output.png:q} --title {params.title:q} > {log:q} 2>&1"


# -- named target (outputs registered for `all` and results/README.md) -------------------------------
rule induction:
    input:
        declare_output(
            f"{FIGURES}/induction_heads.png", "Induction heads: recall accuracy during training",
            "Recall accuracy (the token that followed a trigger's first occurrence, predicted at its "
            "second occurrence) on fixed validation sequences against training step, for every "
            "architecture and depth; grey dotted: chance, grey dashed: the 0.9 'handles' threshold of the scorecard. "
            "Paper (footnote 5): a single Memory Mosaic block handles the induction-head task of "
            "Bietti et al., which a transformer needs two blocks for.",
            "Induction heads (footnote 5)", IND_SCALE_NOTE, runs=IND_RUN_DIRS, summary=IND_TABLE),
        declare_output(
            IND_TABLE, "Induction heads: held-out recall accuracy",
            "Per architecture and depth: recall accuracy on held-out sequences (fresh seed) with its "
            "95% bootstrap interval over sequences, parameters, training steps and chance level. "
            "Paper (footnote 5): one mosaic block suffices; a transformer needs two.",
            "Induction heads (footnote 5)", IND_SCALE_NOTE, runs=IND_RUN_DIRS),
