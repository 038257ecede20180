# Analyses of trained story language models (paper Fig. 10, 12, 13, 15), after stories.smk.
#
#   trained checkpoints (stories_train, or analyses_train for single-block models)
#     -> measurement CSVs  results/measurements/<runs group>/<run>/{position_loss_<corpus>,attention_val}_x<factor>.csv
#     -> figures + tables  (python -m mosaic analyses fig10|fig12|fig13|fig15)
#
# Plotting rules only read checkpoints; nothing is re-trained by them. Models are named in the
# `analyses` config by architecture (= its single-block run: stories/<arch>_L1 when 1 is in
# stories.depths, else trained here as analyses/<arch>_L1) or by a key of analyses.extra_models
# (single-block models trained here with `python -m mosaic stories train --set ...`).
import re
import shlex

AN = config["analyses"]
AN_RUNS = f"{RUNS}/analyses"
AN_MEASURE = f"{RESULTS}/measurements"  # per-model measurement CSVs
OOD_DATA = f"{RESULTS}/data/ood"
AN_SECTION = "Analyses of trained story models"
_ARCH_SLUG = {arch: slug for slug, arch in STORY_ARCHS.items()}

if AN["depth"] not in DEPTHS:
    raise ValueError(f"analyses.depth={AN['depth']} must be one of stories.depths {DEPTHS}")
for _name, _spec in AN["extra_models"].items():
    if _name in _ARCH_SLUG or re.fullmatch(r".+_L\d+", _name) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", _name):
        raise ValueError(f"analyses.extra_models: bad name {_name!r} (letters, digits, _.-; not an "
                         "architecture name, not ending in _L<depth>)")

# run name under AN_RUNS -> (architecture, model overrides) of every model trained by this file
AN_TRAIN = {name: (spec["arch"], {"n_layer": 1, **(spec.get("set") or {})})
            for name, spec in AN["extra_models"].items()}


def an_run(name, depth=1):
    """Run directory of a model named in the analyses config (see the header)."""
    if name in AN["extra_models"]:
        if depth != 1:
            raise ValueError(f"analyses: extra model {name!r} is single-block; depth {depth} not available")
        return f"{AN_RUNS}/{name}"
    if name not in _ARCH_SLUG:
        raise ValueError(f"analyses: unknown model {name!r}; use an architecture of stories.architectures "
                         f"{sorted(_ARCH_SLUG)} or a key of analyses.extra_models {sorted(AN['extra_models'])}")
    slug = _ARCH_SLUG[name]
    if depth in DEPTHS:
        return f"{STORY_RUNS}/{slug}_L{depth}"
    if depth != 1:
        raise ValueError(f"analyses: depth {depth} of {name!r} must be 1 or one of stories.depths {DEPTHS}")
    AN_TRAIN[f"{slug}_L1"] = (name, {"n_layer": 1})  # a single-block run the stories grid lacks
    return f"{AN_RUNS}/{slug}_L1"


def measurement(run_dir, kind, factor=1):
    """The CSV of one measurement (kind: position_loss_ood, position_loss_val, attention_val)."""
    return f"{AN_MEASURE}/{Path(run_dir).relative_to(RUNS)}/{kind}_x{factor}.csv"


FACTOR = AN["long_context"]["factor"]
FIG10_RUNS = [an_run(arch, AN["depth"]) for arch in STORIES["architectures"]]
FIG12_RUNS = [an_run(m) for m in AN["attention"]["models"]]
FIG13_RUNS = [an_run(m) for m in AN["long_context"]["models"]]
FIG15_RUN = an_run(AN["lambda_width"]["model"], AN["lambda_width"]["depth"])
AN_CORPORA = {"ood": (OOD_DATA, "ood"), "val": (STORY_DATA, "val")}  # tag -> (data dir, split)


def an_settings(kind, factor):
    """Windows and batch size of a measurement: the long-context settings beyond factor 1."""
    if int(factor) != 1:
        return AN["long_context"]
    return AN["attention"] if kind == "attention" else AN["position_loss"]


# Figures and tables read results and run on the submitting node; model runs are cluster jobs
# (resources: job_resources(kind), config `resources`).
localrules: fig10, fig12, fig13, fig15


# -- data and training ---------------------------------------------------------------------------
rule analyses_ood_data:
    input:
        rules.stories_data.output.meta,
    output:
        meta=f"{OOD_DATA}/meta.json",
        tokens=f"{OOD_DATA}/ood.bin",
    params:
        ood_data=OOD_DATA,
        story_data=STORY_DATA,
        cfg=lambda wildcards: json.dumps(AN["ood"], sort_keys=True),
    resources:
        **job_resources("data"),
    log:
        f"{LOGS}/analyses/ood_data.log",
    benchmark:
        f"{BENCHMARKS}/analyses/ood_data.tsv"
    shell:
        "python -m mosaic stories prepare-ood --config-json {params.cfg:q} --data {params.story_data:q}"
        " --out {params.ood_data:q} > {log:q} 2>&1"


def _set_args(flag, values):
    return " ".join(f"{flag} {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in values.items())


rule analyses_train:
    input:
        meta=rules.stories_data.output.meta,
        hparams=rules.table3.output.csv,  # the tuned setting every story model trains with
    output:
        weights=f"{AN_RUNS}/{{name}}/model.safetensors",
        done=f"{AN_RUNS}/{{name}}/done.json",
    wildcard_constraints:
        name="|".join(re.escape(n) for n in sorted(AN_TRAIN)) or "(?!)",
    params:
        story_data=STORY_DATA,
        cfg=lambda wildcards: section_json("stories", "model", "train", "batch_size",
                                           arch_options=AN_TRAIN[wildcards.name][0]),
        arch=lambda wildcards: AN_TRAIN[wildcards.name][0],
        model=lambda wildcards: _set_args("--set", AN_TRAIN[wildcards.name][1]),
        train=lambda wildcards: _set_args("--set-train", AN["train_overrides"] or {}),
        run=lambda wildcards: f"{AN_RUNS}/{wildcards.name}",
    threads: THREADS
    resources:
        **job_resources("lm_train"),
    log:
        f"{LOGS}/analyses/train_{{name}}.log",
    benchmark:
        f"{BENCHMARKS}/analyses/train_{{name}}.tsv"
    shell:
        "python -m mosaic stories train --config-json {params.cfg:q} --arch {params.arch:q} --hparams {input.hparams:q}"
        " {params.model} {params.train} --data {params.story_data:q} --out {params.run:q}"
        " --device {DEVICE} --threads {threads} > {log:q} 2>&1"


# -- measurements --------------------------------------------------------------------------------
rule analyses_measure:
    input:
        weights=f"{RUNS}/{{group}}/{{run}}/model.safetensors",
        data=lambda wildcards: f"{AN_CORPORA[wildcards.corpus][0]}/meta.json",
    output:
        csv=f"{AN_MEASURE}/{{group}}/{{run}}/{{kind}}_{{corpus}}_x{{factor}}.csv",
        windows=f"{AN_MEASURE}/{{group}}/{{run}}/{{kind}}_{{corpus}}_x{{factor}}.npz",  # per-window units (claims)
    wildcard_constraints:
        group="stories|analyses",
        run=r"[A-Za-z0-9_.\-]+",
        kind="position_loss|attention",
        corpus="ood|val",
        factor=r"\d+",
    params:
        runs=RUNS,
        command=lambda wildcards: wildcards.kind.replace("_", "-"),
        data=lambda wildcards: AN_CORPORA[wildcards.corpus][0],
        split=lambda wildcards: AN_CORPORA[wildcards.corpus][1],
        windows=lambda wildcards: an_settings(wildcards.kind, wildcards.factor)["windows"],
        batch_size=lambda wildcards: an_settings(wildcards.kind, wildcards.factor)["batch_size"],
        plugins=lambda wildcards: plugin_args(
            STORIES["architectures"] + [spec["arch"] for spec in AN["extra_models"].values()]),
    threads: THREADS
    resources:
        **job_resources("lm_eval"),
    log:
        f"{LOGS}/analyses/{{group}}_{{run}}_{{kind}}_{{corpus}}_x{{factor}}.log",
    benchmark:
        f"{BENCHMARKS}/analyses/{{group}}_{{run}}_{{kind}}_{{corpus}}_x{{factor}}.tsv"
    shell:
        "python -m mosaic analyses {params.command} --run {params.runs}/{wildcards.group}/{wildcards.run}"
        " --data {params.data:q} --split {params.split} --corpus {wildcards.corpus}"
        " --context-factor {wildcards.factor} --windows {params.windows} --batch-size {params.batch_size}"
        " --out {output.csv:q} --device {DEVICE} --threads {threads} {params.plugins} > {log:q} 2>&1"


# -- figures -------------------------------------------------------------------------------------
rule fig10:
    input:
        ood=[measurement(r, "position_loss_ood") for r in FIG10_RUNS],
        val=[measurement(r, "position_loss_val") for r in FIG10_RUNS],
    output:
        png=declare_output(
            f"{FIGURES}/fig10_ood_position_loss.png",
            "Figure 10: out-of-distribution loss by position in the context",
            "Paper: on text unlike the training stories (Simple English Wikipedia) the transformer's "
            "per-position loss plateaus after ~100-150 tokens while the Memory Mosaic keeps improving "
            "and is clearly better after ~50 tokens. Mean next-token loss vs position with 95% bands; "
            "right panel: the story validation split for reference.",
            AN_SECTION,
            scale_note=f"N_b = {AN['depth']}; OOD source {AN['ood']['source']}; "
                       f"at most {AN['position_loss']['windows']} windows per corpus",
            runs=FIG10_RUNS,
            summary=f"{TABLES}/fig10_ood_summary.csv",
        ),
        table=declare_output(
            f"{TABLES}/fig10_ood_position_loss.csv",
            "Figure 10 data: loss by position",
            "Per model, corpus (ood / val) and position: windows, mean loss, std, 95% CI, and the mean "
            f"loss over positions 1-{AN['position_loss']['split_at']} and the rest of the window.",
            AN_SECTION,
        ),
        summary=declare_output(
            f"{TABLES}/fig10_ood_summary.csv",
            "Figure 10 summary: early vs late positions",
            f"Mean loss over positions 1-{AN['position_loss']['split_at']} and "
            f"{AN['position_loss']['split_at'] + 1}-ctx per model, OOD and in-distribution; "
            "q3_minus_q4 > 0 means the loss still falls in the last quarter of the window (no plateau).",
            AN_SECTION,
        ),
        table_md=f"{TABLES}/fig10_ood_position_loss.md",
        summary_md=f"{TABLES}/fig10_ood_summary.md",
    params:
        tables=TABLES,
        split_at=AN["position_loss"]["split_at"],
    log:
        f"{LOGS}/analyses/fig10.log",
    shell:
        "python -m mosaic analyses fig10 --ood {input.ood:q} --val {input.val:q} --split-at {params.split_at}"
        " --out {output.png:q} --table {params.tables}/fig10_ood_position_loss --summary {params.tables}/fig10_ood_summary"
        " > {log:q} 2>&1"


rule fig12:
    input:
        [measurement(r, "attention_val") for r in FIG12_RUNS],
    output:
        declare_output(
            f"{FIGURES}/fig12_attention_last_position.png",
            "Figure 12: attention of the last position (single-block models)",
            "Paper: attention of the last position over all earlier positions, per head, averaged over "
            "validation windows, for a single-block transformer (absolute positions) and a single-block "
            "Memory Mosaic (no positional encoding) trained at the same context.",
            AN_SECTION,
            scale_note=f"at most {AN['attention']['windows']} windows (paper: 5000)",
            runs=FIG12_RUNS,
        ),
    log:
        f"{LOGS}/analyses/fig12.log",
    shell:
        "python -m mosaic analyses fig12 --inputs {input:q} --out {output:q} > {log:q} 2>&1"


rule fig13:
    input:
        attention=[measurement(r, "attention_val", FACTOR) for r in FIG13_RUNS],
        loss=[measurement(r, "position_loss_val", FACTOR) for r in FIG13_RUNS],
    output:
        declare_output(
            f"{FIGURES}/fig13_attention_long_context.png",
            f"Figure 13: attention and loss at {FACTOR}x the trained context",
            f"Paper: at {FACTOR}x the training context, single-block transformers with RoPE or ALiBi "
            "against the Memory Mosaic (no positional encoding): last-position attention per head (top) "
            "and per-position loss (bottom; dotted line = trained context). Absolute-position "
            "transformers cannot run beyond their trained context and are refused.",
            AN_SECTION,
            scale_note=f"at most {AN['long_context']['windows']} windows; models trained here use "
                       f"trainer overrides {AN['train_overrides'] or 'none'}",
            runs=FIG13_RUNS,
        ),
    log:
        f"{LOGS}/analyses/fig13.log",
    shell:
        "python -m mosaic analyses fig13 --attention {input.attention:q} --loss {input.loss:q}"
        " --out {output:q} > {log:q} 2>&1"


rule fig15:
    input:
        measurement(FIG15_RUN, "attention_val"),
    output:
        png=declare_output(
            f"{FIGURES}/fig15_attention_vs_lambda.png",
            "Figure 15: mosaic attention by head, ordered by the learned λ_φ",
            "Paper: heads whose key leaky average has a larger λ_φ (longer memory, eq. 7) have a wider "
            "recent-token attention peak. Last-position attention of each head, coloured by λ_φ rank, "
            "and the peak width against λ_φ.",
            AN_SECTION,
            scale_note=f"N_b = {AN['lambda_width']['depth']}; width window W = {AN['lambda_width']['window']}",
            runs=[FIG15_RUN],
            summary=f"{TABLES}/fig15_lambda_width.csv",
        ),
        table=declare_output(
            f"{TABLES}/fig15_lambda_width.csv",
            "Figure 15 data: peak width against λ_φ",
            "Per head: learned λ_φ, attention-weighted mean look-back distance within the most recent W "
            "tokens, half-mass distance, share of attention in the window; Spearman's ρ between λ_φ and "
            "the width over the heads of each layer (claim: ρ > 0).",
            AN_SECTION,
        ),
        table_md=f"{TABLES}/fig15_lambda_width.md",
    params:
        tables=TABLES,
        window=AN["lambda_width"]["window"],
    log:
        f"{LOGS}/analyses/fig15.log",
    shell:
        "python -m mosaic analyses fig15 --input {input:q} --window {params.window} --out {output.png:q}"
        " --table {params.tables}/fig15_lambda_width > {log:q} 2>&1"
