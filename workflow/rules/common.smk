# Shared definitions for every experiment's rules (included first by the Snakefile).
#
# Provides
#   RESULTS, RUNS, FIGURES, TABLES, LOGS, BENCHMARKS   result directories (from config)
#   SCALE, DEVICE, THREADS                              top-level config values
#   ALL_TARGETS                                         final outputs; rule `all` builds them
#   declare_output(path, title, caption, section, scale_note="", runs=(), summary=None)
#                                                       register a figure/table for results/README.md
#                                                       and the Snakemake report (`snakemake --report`)
#   section_json(name)                                  config[name] as JSON, for --config-json {params.cfg:q}
#   job_resources(kind)                                 config resources.<kind>, for `resources: **job_resources(kind)`
#
# A rule in workflow/rules/<experiment>.smk looks like
#   rule three_moons_train:
#       output: f"{RUNS}/three_moons/{{run}}/done.json"
#       params: cfg=section_json("three_moons"), device=DEVICE
#       threads: THREADS
#       log: f"{LOGS}/three_moons/train_{{run}}.log"
#       benchmark: f"{BENCHMARKS}/three_moons/train_{{run}}.tsv"
#       shell: "python -m mosaic three-moons train --run {wildcards.run} --config-json {params.cfg:q} "
#              "--device {params.device} --threads {threads} > {log:q} 2>&1"
#   rule fig04:
#       input: declare_output(f"{FIGURES}/fig04_three_moons.png", "Three moons ...",
#                             "Paper Fig. 4: ...", "Three moons", runs=[...])
import json
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate


# Jobs run `python -m mosaic ...` from the working directory (the checkout; `python -m` puts it
# on sys.path), or the installed package. Nothing here changes the environment.
from mosaic.harness.config import SCHEMA_DIR, check_section

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


# The Snakemake report (`snakemake --report results/report.html`): its global description, and one
# caption file per declared output (written by report.smk from the entry and the run's numbers).
report: "../report/workflow.rst"
REPORT_CAPTIONS = Path(".snakemake/mosaic_report").resolve()  # in the working directory


def caption_path(path):
    """The report caption file of declared output `path` (one per output; see report.smk)."""
    return REPORT_CAPTIONS / (str(path).replace("/", "__") + ".rst")

# -- outputs -------------------------------------------------------------------------------------
ALL_TARGETS = []  # every final output; experiments append (declare_output does it for them)
DECLARED_OUTPUTS = []  # what results/README.md lists, in declaration order


def declare_output(path, title, caption, section, scale_note="", runs=(), summary=None):
    """Register a final figure/table for rule `all`, results/README.md and the Snakemake report;
    returns `path` flagged with report() (use it in a rule's output or a target rule's input).

    path: the .png of a figure (its .pdf/.csv siblings come with it) or the .csv/.md of a table.
    title: short name ("Figure 4: three moons"); caption: the paper's caption or claim it checks;
    section: heading it is listed under (the experiment; the report's category); scale_note: what
    differs at this scale; runs: training-run directories it came from (their done.json and
    provenance are summarised); summary: a small CSV table holding this run's numbers for the
    output (default: the table itself, or a figure's plotted data when it is short)."""
    path = str(path)
    if any(d["path"] == path for d in DECLARED_OUTPUTS):
        raise ValueError(f"declare_output: {path} declared twice")
    DECLARED_OUTPUTS.append(
        {"path": path, "title": title, "caption": caption, "section": section,
         "scale_note": scale_note, "runs": [str(r) for r in runs],
         "summary": None if summary is None else str(summary)}
    )
    flagged = report(path, caption=str(caption_path(path)), category=section, subcategory=title)
    if path not in ALL_TARGETS:
        ALL_TARGETS.append(flagged)
    return flagged


def plugin_args(names):
    """`--allow-plugin NAME` for every plug-in path among architecture `names`: steps that load a
    trained run build only architectures the user named (a run directory is data)."""
    return " ".join(f"--allow-plugin {shlex.quote(n)}" for n in names if ":" in n)


def section_json(name):
    """`config[name]` as compact JSON, for a rule's `params: cfg=section_json(name)` passed as
    `--config-json {params.cfg:q}`. Params are compared between runs, so a config change re-runs
    exactly the steps whose section changed."""
    if name not in config:
        raise ValueError(f"config has no section '{name}' (add it to config/config.yaml)")
    return json.dumps(config[name], sort_keys=True, separators=(",", ":"))
