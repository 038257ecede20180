"""Runtime of the whole workflow: every job's Snakemake ``benchmark:`` file in one table.

    python benchmarks/dag_time.py --benchmarks results/benchmarks --out results/tables/runtime \
        [--rules-json '{"rule": "results/benchmarks/x/train_{arch}.tsv", ...}'] [--config-json '{...}']

Writes ``<out>.csv`` and ``<out>.md`` (rule ``runtime_table`` of workflow/rules/performance.smk,
run after every other declared output). One row per job: its experiment (the folder under
``results/benchmarks/``), the rule whose ``benchmark:`` pattern names the file (``--rules-json``,
as the workflow declares them), the job (the file name), the architecture it trained or
evaluated, wall seconds, CPU seconds and peak resident memory as Snakemake measured them; then a
total per experiment, a total per architecture and the grand total. Rules without a
``benchmark:`` file (plots, small tables: seconds each) are not in the table.

Architectures come from the config, never from a list here: every ``architectures:`` list of
any section (plug-in paths included, in the slug form their job names use, ``pkg.mod:Class`` ->
``pkg.mod__Class``) and every mapping with an ``arch:`` key (a named extra model, e.g.
``fig13_rope: {arch: transformer}``). A job belongs to the architecture whose name (or extra
model's name) appears in its file name as a whole token; every configured architecture gets a
total row, zero jobs included.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mosaic.harness.config import run_cli  # noqa: E402
from mosaic.harness.io import write_table  # noqa: E402

COLUMNS = ["experiment", "rule", "job", "architecture", "wall_s", "cpu_s", "max_rss_mb"]


def slug(arch: str) -> str:
    """The run-directory / job-name form of an architecture (as the experiments' rules write it)."""
    return arch.replace(":", "__").replace("/", "_")


def architectures_from_config(config: Any) -> dict[str, str]:
    """``{name in job files: architecture}`` from every ``architectures`` list and every
    mapping with an ``arch`` key, anywhere in the config."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "architectures" and isinstance(value, list):
                    for arch in value:
                        found[slug(str(arch))] = str(arch)
                elif isinstance(value, dict) and isinstance(value.get("arch"), str):
                    found[slug(str(key))] = value["arch"]
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config)
    return found


def architecture_of(job: str, names: dict[str, str]) -> str | None:
    """The architecture whose name is a whole token of ``job`` (longest name wins)."""
    hits = [n for n in names if re.search(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])", job)]
    return names[max(hits, key=len)] if hits else None


def _pattern_parts(pattern: str) -> list[tuple[str, str]]:
    """Split a Snakemake file pattern into ("text", literal) and ("wildcard", regex) parts;
    ``{name}`` matches any text, ``{name,regex}`` its constraint (braces inside it nest)."""
    parts, i = [], 0
    while i < len(pattern):
        if pattern[i] != "{":
            j = pattern.find("{", i)
            j = len(pattern) if j < 0 else j
            parts.append(("text", pattern[i:j]))
            i = j
            continue
        depth, j = 0, i
        while j < len(pattern):
            depth += {"{": 1, "}": -1}.get(pattern[j], 0)
            if depth == 0:
                break
            j += 1
        _, _, constraint = pattern[i + 1 : j].partition(",")
        parts.append(("wildcard", constraint.strip() or ".+?"))
        i = j + 1
    return parts


def rule_of(path: Path, patterns: dict[str, str]) -> str | None:
    """The rule whose benchmark pattern (wildcard constraints included) matches the end of
    ``path``; the most specific (most literal characters) wins where two match
    (``train_{run}`` against ``{fig}_{run}``)."""
    text = path.as_posix()
    hits = []
    for rule, pattern in patterns.items():
        parts = _pattern_parts(Path(pattern).as_posix())
        regex = "".join(re.escape(v) if kind == "text" else f"(?:{v})" for kind, v in parts)
        if re.search(rf"(?:^|/){regex}\Z", text):
            hits.append((sum(len(v) for kind, v in parts if kind == "text"), rule))
    return max(hits)[1] if hits else None


def read_benchmark(tsv: Path) -> dict[str, float]:
    """Wall and CPU seconds (mean over repeats) and peak RSS (MB, max) of one benchmark file."""
    df = pd.read_csv(tsv, sep="\t", na_values=["-", "NA", ""])
    if "s" not in df.columns or df.empty:
        raise ValueError(f"{tsv} is not a Snakemake benchmark file (no 's' column)")
    return {"wall_s": float(df["s"].mean()),
            "cpu_s": float(df["cpu_time"].mean()) if "cpu_time" in df.columns else float("nan"),
            "max_rss_mb": float(df["max_rss"].max()) if "max_rss" in df.columns else float("nan")}


def runtime_table(bench_dir: Path, patterns: dict[str, str], names: dict[str, str]) -> pd.DataFrame:
    """Jobs, then per-experiment totals, per-architecture totals and the grand total."""
    bench_dir = Path(bench_dir)
    if not bench_dir.is_dir():
        raise FileNotFoundError(f"benchmark directory not found: {bench_dir}")
    jobs = []
    for tsv in sorted(bench_dir.rglob("*.tsv")):
        rel = tsv.relative_to(bench_dir)
        jobs.append({"experiment": rel.parts[0] if len(rel.parts) > 1 else "(top level)",
                     "rule": rule_of(tsv, patterns), "job": rel.with_suffix("").name,
                     "architecture": architecture_of(rel.with_suffix("").name, names),
                     **read_benchmark(tsv)})
    df = pd.DataFrame(jobs, columns=COLUMNS)
    rows = []

    def total(sub: pd.DataFrame, **labels) -> dict:
        return {"job": f"{len(sub)} jobs", "wall_s": sub["wall_s"].sum(), "cpu_s": sub["cpu_s"].sum(min_count=1),
                "max_rss_mb": sub["max_rss_mb"].max(), **labels}

    for experiment, sub in df.groupby("experiment", sort=True):
        rows.extend(sub.to_dict("records"))
        rows.append(total(sub, experiment=experiment, rule="(experiment total)"))
    for arch in sorted(set(names.values())):
        rows.append(total(df[df["architecture"] == arch], experiment="(all)", rule="(architecture total)",
                          architecture=arch))
    rows.append(total(df, experiment="(all)", rule="(total)"))
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", required=True, help="the workflow's results/benchmarks folder")
    parser.add_argument("--out", required=True, help="output path without suffix (.csv and .md written)")
    parser.add_argument("--rules-json", default="{}", help="{rule: benchmark pattern} of the workflow")
    parser.add_argument("--config-json", default="{}", help="the workflow config (for the architectures)")
    args = parser.parse_args(argv)
    patterns = json.loads(args.rules_json)
    names = architectures_from_config(json.loads(args.config_json))
    table = runtime_table(Path(args.benchmarks), patterns, names)
    write_table(table, args.out, float_format="%.1f")
    grand = table.iloc[-1]
    print(f"{grand['job']}: {grand['wall_s']:.0f} s of job wall time -> {args.out}.csv, {args.out}.md")
    return 0


if __name__ == "__main__":
    run_cli(main)
