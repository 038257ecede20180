# Shared definitions for every experiment's rules (included first by the Snakefile).
#
# Provides
#   RESULTS, RUNS, FIGURES, TABLES, LOGS, BENCHMARKS   result directories (from config)
#   SCALE, DEVICE, THREADS                              top-level config values
#   ALL_TARGETS                                         final outputs; rule `all` builds them
#   declare_output(path, title, caption, section, scale_note="", runs=(), summary=None)
#                                                       register a figure/table for results/README.md
#                                                       and the Snakemake report (`snakemake --report`)
#   section_json(name, *keys, **entries)                config[name] (or only the keys a job reads) as JSON,
#                                                       for --config-json {params.cfg:q}
#   plugin_args(names)                                  --allow-plugin for plug-in paths among `names`
#   job_resources(kind)                                 config resources.<kind>, for `resources: **job_resources(kind)`
#
# A rule in workflow/rules/<experiment>.smk looks like
#   rule three_moons_train:
#       output: f"{RUNS}/three_moons/{{run}}/done.json"
#       params: cfg=section_json("three_moons", "train")
#       threads: THREADS
#       log: f"{LOGS}/three_moons/train_{{run}}.log"
#       benchmark: f"{BENCHMARKS}/three_moons/train_{{run}}.tsv"
#       shell: "python -m mosaic three-moons train --run {wildcards.run} --config-json {params.cfg:q} "
#              "--device {DEVICE} --threads {threads} > {log:q} 2>&1"
#   rule fig04:
#       input: declare_output(f"{FIGURES}/fig04_three_moons.png", "Three moons ...",
#                             "Paper Fig. 4: ...", "Three moons", runs=[...])
import json
import os
import shlex
from pathlib import Path

import yaml
from snakemake.utils import validate


# Jobs run `python -m mosaic ...` from the working directory (the checkout; `python -m` puts it
# on sys.path), or the installed package. Nothing here changes the environment.
from mosaic.harness.config import SCHEMA_DIR, check_section
from mosaic.harness.results_index import caption_file

# -- config: top level, then each experiment section that has a schema --------------------------------
_SCHEMAS = SCHEMA_DIR  # shipped with the package: mosaic/harness/schemas
_TOP_LEVEL_KEYS = sorted(yaml.safe_load((_SCHEMAS / "config.schema.yaml").read_text())["properties"])
_unknown = sorted(set(config) - set(_TOP_LEVEL_KEYS))
if _unknown:
    raise ValueError(
        f"unknown top-level config key(s) {_unknown}; allowed: {_TOP_LEVEL_KEYS}. "
        "A new experiment section must be added to mosaic/harness/schemas/config.schema.yaml."
    )
# check_section first: one line naming the key path (Snakemake's validate() prints the whole
# schema after its message); validate() then fills schema defaults.
check_section(config, "config")
validate(config, str(_SCHEMAS / "config.schema.yaml"))
for _section in sorted(k for k in config if isinstance(config[k], dict)):
    if (_SCHEMAS / f"{_section}.schema.yaml").is_file():
        check_section(config[_section], _section)
        validate(config[_section], str(_SCHEMAS / f"{_section}.schema.yaml"))

SCALE = config["scale"]
DEVICE = config["device"]
THREADS = config["threads"]
RESULTS = config["results_dir"].rstrip("/")
RUNS = f"{RESULTS}/runs"
FIGURES = f"{RESULTS}/figures"
TABLES = f"{RESULTS}/tables"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"



def job_resources(kind):
    """What a cluster executor requests for a job of `kind` (config `resources.<kind>`: runtime,
    mem_mb, cpus_per_task, gpu, ...), for a rule's `resources: **job_resources("lm_train")`. Rules
    without it (figures, tables) are `localrules` and run on the submitting node."""
    if kind not in config["resources"]:
        raise ValueError(f"config resources has no kind {kind!r}; kinds: {sorted(config['resources'])}")
    return dict(config["resources"][kind])


# The Snakemake report (`snakemake --report results/report.html`): its global description, and per
# declared output a caption. The rule results_index (the last step of `all`) writes each output's
# caption with this run's numbers into REPORT_CAPTIONS; an output whose caption is there uses it, any
# other (a target built alone) the generic caption, with the claim and scale in its labels. The
# Snakefile only reads these files; nothing is written while the workflow is parsed.
report: "../report/workflow.rst"
REPORT_CAPTIONS = Path(config["results_dir"]) / "report" / "captions"
GENERIC_CAPTION = "../report/caption.rst"


def caption_path(path):
    """The caption of declared output `path`: this run's, if results_index has written it."""
    written = REPORT_CAPTIONS / caption_file(path)
    return str(written.resolve()) if written.is_file() else GENERIC_CAPTION

# -- outputs -------------------------------------------------------------------------------------
ALL_TARGETS = []  # every final output; experiments append (declare_output does it for them)
DECLARED_OUTPUTS = []  # what results/README.md lists, in declaration order


def declare_output(path, title, caption, section, scale_note="", runs=(), summary=None, first=False):
    """Register a final figure/table for rule `all`, results/README.md and the Snakemake report;
    returns `path` flagged with report() (use it in a rule's output or a target rule's input).

    path: the .png of a figure (its .pdf/.csv siblings come with it) or the .csv/.md of a table.
    title: short name ("Figure 4: three moons"); caption: the paper's caption or claim it checks;
    section: heading it is listed under (the experiment; the report's category); scale_note: what
    differs at this scale; runs: training-run directories it came from (their done.json and
    provenance are summarised); summary: a small CSV table holding this run's numbers for the
    output (default: the table itself, or a figure's plotted data when it is short); first: list
    it (and its section) before everything declared so far (the scorecard)."""
    path = str(path)
    if any(d["path"] == path for d in DECLARED_OUTPUTS):
        raise ValueError(f"declare_output: {path} declared twice")
    entry = {"path": path, "title": title, "caption": caption, "section": section,
             "scale_note": scale_note, "runs": [str(r) for r in runs],
             "summary": None if summary is None else str(summary)}
    DECLARED_OUTPUTS.insert(0, entry) if first else DECLARED_OUTPUTS.append(entry)
    scale = f"{SCALE} - {scale_note}" if scale_note else SCALE
    labels = {"output": Path(path).name, "claim": caption, "scale": scale}
    flagged = report(path, caption=caption_path(path), category=section, subcategory=title, labels=labels)
    if path not in ALL_TARGETS:
        ALL_TARGETS.append(flagged)
    return flagged


def arch_slug(name):
    """A run directory's name for architecture `name`: a plug-in path pkg.mod:Class becomes pkg.mod__Class."""
    return name.replace(":", "__").replace(os.sep, "_")


def plugin_args(names):
    """`--allow-plugin NAME` for every plug-in path among architecture `names`: steps that load a
    trained run build only architectures the user named (a run directory is data)."""
    return " ".join(f"--allow-plugin {shlex.quote(n)}" for n in names if ":" in n)


def section_json(name, *keys, **entries):
    """`config[name]`, or only its `keys` (and, for `entries` key=subkey, only `config[name][key]
    [subkey]`), as compact JSON for a rule's `params: cfg=section_json(...)` passed as
    `--config-json {params.cfg:q}`. Snakemake reruns a job whose params changed: hand each job
    exactly the keys it reads, so a config change reruns exactly the jobs it affects."""
    if name not in config:
        raise ValueError(f"config has no section '{name}' (add it to config/config.yaml)")
    section = config[name]
    if keys or entries:
        part = {k: section[k] for k in keys if k in section}
        for key, sub in entries.items():
            part[key] = {sub: (section.get(key) or {}).get(sub) or {}}
        section = part
    return json.dumps(section, sort_keys=True, separators=(",", ":"))
