# Shared definitions for every experiment's rules (included first by the Snakefile).
#
# Provides
#   RESULTS, RUNS, FIGURES, TABLES, LOGS, BENCHMARKS   result directories (from config)
#   SCALE, DEVICE, THREADS                              top-level config values
#   ALL_TARGETS                                         final outputs; rule `all` builds them
#   declare_output(path, title, caption, section, scale_note="", runs=())
#                                                       register a figure/table for results/README.md
#   section_json(name)                                  config[name] as JSON, for --config-json {params.cfg:q}
#
# A rule in workflow/rules/<experiment>.smk looks like
#   rule three_moons_train:
#       output: f"{RUNS}/three_moons/{{run}}/done.json"
#       params: cfg=section_json("three_moons"), device=DEVICE
#       threads: THREADS
#       log: f"{LOGS}/three_moons/train_{{run}}.log"
#       benchmark: f"{BENCHMARKS}/three_moons/train_{{run}}.tsv"
#       shell: "python -m mosaic.three_moons train --run {wildcards.run} --config-json {params.cfg:q} "
#              "--device {params.device} --threads {threads} > {log:q} 2>&1"
#   rule fig04:
#       input: declare_output(f"{FIGURES}/fig04_three_moons.png", "Three moons ...",
#                             "Paper Fig. 4: ...", "Three moons", runs=[...])
import json
import os
from pathlib import Path

import yaml
from snakemake.utils import validate

# -- config: top level, then each experiment section that has a schema --------------------------------
_SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
_TOP_LEVEL_KEYS = sorted(yaml.safe_load((_SCHEMAS / "config.schema.yaml").read_text())["properties"])
_unknown = sorted(set(config) - set(_TOP_LEVEL_KEYS))
if _unknown:
    raise ValueError(
        f"unknown top-level config key(s) {_unknown}; allowed: {_TOP_LEVEL_KEYS}. "
        "A new experiment section must be added to workflow/schemas/config.schema.yaml."
    )
validate(config, "../schemas/config.schema.yaml")
for _section in sorted(k for k in config if isinstance(config[k], dict)):
    if (_SCHEMAS / f"{_section}.schema.yaml").is_file():
        validate(config[_section], f"../schemas/{_section}.schema.yaml")

SCALE = config["scale"]
DEVICE = config["device"]
THREADS = config["threads"]
RESULTS = config["results_dir"].rstrip("/")
RUNS = f"{RESULTS}/runs"
FIGURES = f"{RESULTS}/figures"
TABLES = f"{RESULTS}/tables"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"

# Jobs run `python -m mosaic...`: make the package next to the Snakefile importable even when the
# workflow runs in another directory (--directory) and the package is not pip-installed.
if (Path(workflow.basedir) / "mosaic" / "__init__.py").is_file():
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH", "")) if p
    )

# -- outputs -------------------------------------------------------------------------------------
ALL_TARGETS = []  # every final output; experiments append (declare_output does it for them)
DECLARED_OUTPUTS = []  # what results/README.md lists, in declaration order


def declare_output(path, title, caption, section, scale_note="", runs=()):
    """Register a final figure/table for rule `all` and the results index; returns `path`.

    path: the .png of a figure (its .pdf/.csv siblings come with it) or the .csv/.md of a table.
    title: short name ("Figure 4: three moons"); caption: the paper's caption or claim it checks;
    section: heading it is listed under (the experiment); scale_note: what differs at this scale;
    runs: training-run directories it came from (their done.json is summarised)."""
    path = str(path)
    if any(d["path"] == path for d in DECLARED_OUTPUTS):
        raise ValueError(f"declare_output: {path} declared twice")
    DECLARED_OUTPUTS.append(
        {"path": path, "title": title, "caption": caption, "section": section,
         "scale_note": scale_note, "runs": [str(r) for r in runs]}
    )
    if path not in ALL_TARGETS:
        ALL_TARGETS.append(path)
    return path


def section_json(name):
    """`config[name]` as compact JSON, for a rule's `params: cfg=section_json(name)` passed as
    `--config-json {params.cfg:q}`. Params are compared between runs, so a config change re-runs
    exactly the steps whose section changed."""
    if name not in config:
        raise ValueError(f"config has no section '{name}' (add it to config/config.yaml)")
    return json.dumps(config[name], sort_keys=True, separators=(",", ":"))
