# Story language modelling (paper section 5): data -> Table 2; Table 3 grid -> best transformer
# setting, which every architecture then trains with, verbatim, as the paper transfers it (C4);
# every architecture at several depths -> Fig. 9; continuations -> Tables 1 and 5.
# Each job's params hold only the config keys it reads (section_json), so a change of, say,
# stories.sampling reruns the continuation tables and no training.
import itertools
import shlex

STORIES = config["stories"]
STORY_DATA = f"{RESULTS}/data/stories"
STORY_RUNS = f"{RUNS}/stories"
HP = STORIES["hparam_search"]
HP_POINTS = [
    dict(zip(sorted(HP["grid"]), values))
    for values in itertools.product(*(HP["grid"][k] for k in sorted(HP["grid"])))
]
# A run directory is named after its architecture; plug-in paths (pkg.mod:Class) get a safe slug.
STORY_ARCHS = {arch_slug(a): a for a in STORIES["architectures"]}
DEPTHS = sorted(STORIES["depths"])
STORY_RUN_DIRS = [f"{STORY_RUNS}/{slug}_L{d}" for slug in STORY_ARCHS for d in DEPTHS]


# Figures and tables read results and run on the submitting node; model runs are cluster jobs
# (resources: job_resources(kind), config `resources`).
localrules: table2, table3, fig09, table1, table5


def story_vocab_args():
    """prepare's vocabulary also covers Fig. 10's OOD corpus and the prompts of Tables 1/5 (no
    evaluated target is ever <unk>)."""
    args = ["--ood-json", shlex.quote(json.dumps(config["analyses"]["ood"], sort_keys=True))]
    if STORIES.get("prompts_file"):
        args += ["--prompts-file", shlex.quote(str(STORIES["prompts_file"]))]
    return " ".join(args)


rule stories_data:
    input:
        prompts=[STORIES["prompts_file"]] if STORIES.get("prompts_file") else [],
    output:
        meta=f"{STORY_DATA}/meta.json",
        train=f"{STORY_DATA}/train.bin",
        val=f"{STORY_DATA}/val.bin",
    params:
        story_data=STORY_DATA,
        cfg=lambda wildcards: json.dumps(STORIES["data"], sort_keys=True),
        vocab=lambda wildcards: story_vocab_args(),
    resources:
        **job_resources("data"),
    log:
        f"{LOGS}/stories/data.log",
    benchmark:
        f"{BENCHMARKS}/stories/data.tsv"
    shell:
        "python -m mosaic stories prepare --config-json {params.cfg:q} {params.vocab} --out {params.story_data:q} > {log:q} 2>&1"


rule table2:
    input:
        rules.stories_data.output.meta,
    output:
        csv=declare_output(
            f"{TABLES}/table2_corpus_stats.csv",
            "Table 2: story corpus statistics",
            "Per split: stories, words, tokens, unique tokens, tokens per story, vocabulary, distinct word "
            "types, words per story, distinct-sentence rate, distinct word 4-gram rate and within-story "
            "word and bigram repeat rates of the corpus the models are trained on (the statistics that "
            "tell a template from real children's stories).",
            "Story language modelling",
        ),
        md=f"{TABLES}/table2_corpus_stats.md",
    params:
        story_data=STORY_DATA,
        tables=TABLES,
    log:
        f"{LOGS}/stories/table2.log",
    shell:
        "python -m mosaic stories table2 --data {params.story_data:q} --out {params.tables}/table2_corpus_stats > {log:q} 2>&1"


rule stories_hparam_run:
    input:
        rules.stories_data.output.meta,
    output:
        f"{STORY_RUNS}/hparams/p{{point}}/done.json",
    params:
        story_data=STORY_DATA,
        cfg=section_json("stories", "model", "train", "batch_size", arch_options=HP["arch"]),
        point=lambda wildcards: json.dumps(HP_POINTS[int(wildcards.point)], sort_keys=True),
        run=lambda wildcards: f"{STORY_RUNS}/hparams/p{wildcards.point}",
        arch=HP["arch"],
        depth=HP["depth"],
        max_steps=HP["max_steps"],
    threads: THREADS
    resources:
        **job_resources("lm_train"),
    log:
        f"{LOGS}/stories/hparams_p{{point}}.log",
    benchmark:
        f"{BENCHMARKS}/stories/hparams_p{{point}}.tsv"
    shell:
        "python -m mosaic stories train --config-json {params.cfg:q} --arch {params.arch:q} --set n_layer={params.depth}"
        " --set-train max_steps={params.max_steps} --point-json {params.point:q} --data {params.story_data:q}"
        " --out {params.run:q} --device {DEVICE} --threads {threads} > {log:q} 2>&1"


rule table3:
    input:
        expand(f"{STORY_RUNS}/hparams/p{{point}}/done.json", point=range(len(HP_POINTS))),
    output:
        csv=declare_output(
            f"{TABLES}/table3_hparam_search.csv",
            "Table 3: transformer hyper-parameter search",
            "Final validation loss of every point of the transformer grid; the best point is the "
            "setting of Fig. 9's transformer runs (a DAG dependency, not a copied number).",
            "Story language modelling",
            scale_note=f"{HP['arch']}, N_b={HP['depth']}, {HP['max_steps']} steps per point",
        ),
        md=f"{TABLES}/table3_hparam_search.md",
    params:
        tables=TABLES,
        runs=lambda wildcards, input: [str(Path(p).parent) for p in input],
    log:
        f"{LOGS}/stories/table3.log",
    shell:
        "python -m mosaic stories table3 --runs {params.runs:q} --out {params.tables}/table3_hparam_search > {log:q} 2>&1"


rule stories_train:
    input:
        meta=rules.stories_data.output.meta,
        hparams=rules.table3.output.csv,  # every architecture trains at the grid's best point
    output:
        weights=f"{STORY_RUNS}/{{arch}}_L{{depth}}/model.safetensors",
        done=f"{STORY_RUNS}/{{arch}}_L{{depth}}/done.json",
    wildcard_constraints:
        arch="[A-Za-z0-9_.\-]+",
        depth=r"\d+",
    params:
        story_data=STORY_DATA,
        cfg=lambda wildcards: section_json("stories", "model", "train", "batch_size",
                                           arch_options=STORY_ARCHS[wildcards.arch]),
        arch=lambda wildcards: STORY_ARCHS[wildcards.arch],
        run=lambda wildcards: f"{STORY_RUNS}/{wildcards.arch}_L{wildcards.depth}",
    threads: THREADS
    resources:
        **job_resources("lm_train"),
    log:
        f"{LOGS}/stories/train_{{arch}}_L{{depth}}.log",
    benchmark:
        f"{BENCHMARKS}/stories/train_{{arch}}_L{{depth}}.tsv"
    shell:
        "python -m mosaic stories train --config-json {params.cfg:q} --arch {params.arch:q} --set n_layer={wildcards.depth}"
        " --hparams {input.hparams:q} --data {params.story_data:q} --out {params.run:q}"
        " --device {DEVICE} --threads {threads} > {log:q} 2>&1"


rule fig09:
    input:
        [f"{d}/done.json" for d in STORY_RUN_DIRS],
        meta=rules.stories_data.output.meta,
    output:
        png=declare_output(
            f"{FIGURES}/fig09_train_val_by_depth.png",
            "Figure 9: training and validation loss by depth",
            "Paper: Memory Mosaics match or beat transformers of the same depth on BabiStories; "
            "train (dotted) and validation (solid) cross-entropy against steps, one panel per depth.",
            "Story language modelling",
            runs=STORY_RUN_DIRS,
            summary=f"{TABLES}/stories_final_losses.csv",
        ),
        losses=declare_output(
            f"{TABLES}/stories_final_losses.csv",
            "Final story-LM losses",
            "Final train/validation loss of every Fig. 9 run, with the unigram cross-entropy of the "
            "validation split as the no-context reference.",
            "Story language modelling",
        ),
        per_sequence=f"{TABLES}/stories_val_per_sequence.csv",  # paired windows for claim C4
    params:
        story_data=STORY_DATA,
        tables=TABLES,
        runs=STORY_RUN_DIRS,
        plugins=plugin_args(STORIES["architectures"]),
    log:
        f"{LOGS}/stories/fig09.log",
    shell:
        "python -m mosaic stories fig09 --runs {params.runs:q} --data {params.story_data:q} --out {output.png:q}"
        " --losses {params.tables}/stories_final_losses --per-sequence {output.per_sequence:q} {params.plugins}"
        " > {log:q} 2>&1"


def continuation_runs(depth):
    return [f"{STORY_RUNS}/{slug}_L{depth}" for slug in STORY_ARCHS]


for _rule, _name, _depth, _title, _caption in [
    ("table1", "table1_continuations_deep", DEPTHS[-1], "Table 1: continuations by the deepest models",
     "Continuations of the 24 evaluation prompts (factual knowledge, reasoning, context tracking) "
     "by the deepest model of every architecture in stories.architectures, side by side."),
    ("table5", "table5_continuations_nb1", DEPTHS[0], "Table 5: continuations by single-block models",
     "The same prompts continued by the shallowest (paper: N_b = 1) models."),
]:

    rule:
        name: _rule
        input:
            [f"{r}/model.safetensors" for r in continuation_runs(_depth)],
        output:
            declare_output(f"{TABLES}/{_name}.md", _title, _caption, "Story language modelling",
                           scale_note=f"N_b = {_depth}", runs=continuation_runs(_depth)),
        params:
            story_data=STORY_DATA,
            cfg=section_json("stories", "sampling", "prompts_file"),
            runs=continuation_runs(_depth),
            title=_title,
            plugins=plugin_args(STORIES["architectures"]),
        log:
            f"{LOGS}/stories/{_name}.log",
        shell:
            "python -m mosaic stories continuations --config-json {params.cfg:q} --runs {params.runs:q}"
            " --data {params.story_data:q} --title {params.title:q} --out {output:q} {params.plugins} > {log:q} 2>&1"
