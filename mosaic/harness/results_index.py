"""Write ``results/README.md``: an index of every figure and table the workflow declared.

Each experiment's Snakemake rules register their products with ``declare_output(path, title,
caption, section, scale_note, runs)`` (``workflow/rules/common.smk``); rule ``results_index``
passes that list here as JSON. For every entry the index shows the figure (or the table inline),
the paper's caption/claim it reproduces, this run's numbers (the entry's ``summary`` table), the
scale it was run at, its files and the training runs it came from (their ``done.json`` and the
provenance their ``config.json`` records). The index itself starts with the provenance of the
code that wrote it (git commit, package versions). It also writes ``outputs.json``, the
machine-readable list of declared outputs the end-to-end test checks.

The same text, as reStructuredText, is each output's caption in the Snakemake report
(:func:`write_captions`, called by ``workflow/rules/report.smk`` when a report is built).

    python -m mosaic results-index --manifest-json '[...]' --scale smoke \\
        --readme results/README.md --outputs-json results/outputs.json
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mosaic.harness.io import write_json, write_text
from mosaic.harness.provenance import collect_provenance

ENTRY_KEYS = {"path", "title", "caption", "section", "scale_note", "runs", "summary"}
MAX_SUMMARY_ROWS = 30  # a figure's plotted data longer than this is linked, not shown
SCALE_TEXT = {
    "smoke": "**smoke** — a tiny run of every step (minutes, CPU) that only checks the pipeline; "
             "numbers are not meaningful",
    "default": "**default** — reduced sizes that run on a laptop CPU in about an hour; trends, "
               "not the paper's numbers",
    "paper": "**paper** — the paper's sizes (GPU)",
}


def check_manifest(manifest: Any) -> list[dict[str, Any]]:
    """Validate the declared-output list; errors name the entry and key."""
    if not isinstance(manifest, list):
        raise ValueError(f"manifest must be a JSON list of outputs, got {type(manifest).__name__}")
    seen: set[str] = set()
    entries = []
    for i, entry in enumerate(manifest):
        if not isinstance(entry, dict):
            raise ValueError(f"manifest entry {i} must be an object, got {entry!r}")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        missing = sorted({"path", "title", "caption", "section"} - set(entry))
        if unknown or missing:
            raise ValueError(f"manifest entry {i} ({entry.get('path')}): unknown keys {unknown}, missing {missing}")
        if entry["path"] in seen:
            raise ValueError(f"output {entry['path']} declared twice")
        seen.add(entry["path"])
        entries.append({"scale_note": "", "runs": [], "summary": None, **entry})
    return entries


# -- what this run shows: numbers and provenance, shared by the Markdown index and the report ----
def summary_table(entry: dict[str, Any]) -> tuple[pd.DataFrame, Path, int] | None:
    """This run's numbers for an entry: (first rows, CSV file, total rows), or None.

    The entry's ``summary`` CSV when declared and built; else a table's own CSV; else a figure's
    plotted data when it has at most MAX_SUMMARY_ROWS rows (longer data is only linked)."""
    path = Path(entry["path"])
    if entry.get("summary") and Path(entry["summary"]).is_file():
        csv, limit = Path(entry["summary"]), MAX_SUMMARY_ROWS
    elif path.suffix in (".csv", ".md"):
        csv, limit = path.with_suffix(".csv"), MAX_SUMMARY_ROWS
    else:
        csv, limit = path.with_suffix(".csv"), 0  # 0: only if short
    if not csv.is_file():
        return None
    try:
        frame = pd.read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
    if limit == 0 and len(frame) > MAX_SUMMARY_ROWS:
        return None
    return frame.head(MAX_SUMMARY_ROWS), csv, len(frame)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if pd.isna(value) else f"{value:.4g}"
    return str(value)


def run_info(run: str) -> dict[str, Any]:
    """Final metrics (``done.json``) and provenance (``config.json`` key ``provenance``, absent in
    runs written before it existed) of one training run directory."""
    info: dict[str, Any] = {"dir": run, "done": None, "provenance": None}
    done, config = Path(run) / "done.json", Path(run) / "config.json"
    if done.is_file():
        info["done"] = json.loads(done.read_text(encoding="utf-8"))
    if config.is_file():
        prov = json.loads(config.read_text(encoding="utf-8")).get("provenance")
        info["provenance"] = prov if isinstance(prov, dict) else None
    return info


def _metrics_text(done: dict[str, Any] | None) -> str:
    if done is None:
        return "not trained yet"
    parts = [f"{done.get('step')} steps"]
    parts += [f"{k} {done[k]:.4f}" for k in ("train_loss", "val_loss") if isinstance(done.get(k), (int, float))]
    return ", ".join(parts)


def provenance_text(prov: dict[str, Any] | None) -> str:
    """One line: short git commit (+ dirty), torch version, seed; '' when unknown."""
    if not prov:
        return ""
    parts = []
    if prov.get("git_commit"):
        parts.append(f"git {prov['git_commit'][:10]}{' (dirty)' if prov.get('git_dirty') else ''}")
    torch_version = (prov.get("packages") or {}).get("torch")
    if torch_version:
        parts.append(f"torch {torch_version}")
    if prov.get("seed") is not None:
        parts.append(f"seed {prov['seed']}")
    return ", ".join(parts)


def _link(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _run_summary(run: str, base: Path) -> str:
    """One training run: its directory, final metrics and provenance."""
    info = run_info(run)
    text = f"[`{_link(Path(run), base)}`]({_link(Path(run), base)}/) — {_metrics_text(info['done'])}"
    prov = provenance_text(info["provenance"])
    return text + (f" ({prov})" if prov else "")


def _embedded(md_path: Path) -> str:
    """A Markdown table/text shown inline, its headings demoted below the entry's own (###)."""
    text = md_path.read_text(encoding="utf-8").strip()
    return "\n".join("###" + line if line.startswith("#") else line for line in text.splitlines())


def _entry_markdown(entry: dict[str, Any], base: Path, scale: str) -> list[str]:
    path = Path(entry["path"])
    lines = [f"### {entry['title']}", ""]
    exists = path.is_file()
    if not exists:
        lines += [f"*Not built yet:* `{path}`", ""]
    elif path.suffix == ".png":
        lines += [f"![{entry['title']}]({_link(path, base)})", ""]
    elif path.suffix == ".md":
        lines += [_embedded(path), ""]
    elif path.suffix == ".csv" and path.with_suffix(".md").is_file():
        lines += [_embedded(path.with_suffix(".md")), ""]
    summary = summary_table(entry) if exists else None
    shown_above = path.suffix in (".csv", ".md") and summary is not None and summary[1] == path.with_suffix(".csv")
    if summary is not None and not shown_above:  # a figure's numbers, or another table's
        frame, csv, total = summary
        more = f" (first {len(frame)} of {total} rows)" if total > len(frame) else ""
        lines += [f"This run ([`{_link(csv, base)}`]({_link(csv, base)}){more}):", "",
                  "| " + " | ".join(map(str, frame.columns)) + " |",
                  "| " + " | ".join("---" for _ in frame.columns) + " |"]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
        lines.append("")
    lines.append(f"- **Paper:** {_claim(entry)}")
    note = f" — {entry['scale_note']}" if entry["scale_note"] else ""
    lines.append(f"- **Scale:** {scale}{note}")
    siblings = [path.with_suffix(s) for s in (".png", ".pdf", ".csv", ".md")]
    files = [f"[{p.suffix[1:]}]({_link(p, base)})" for p in siblings if p.is_file()]
    if files:
        lines.append("- **Files:** " + " · ".join(files))
    runs = entry["runs"]
    if runs:
        lines.append("- **Runs:** " + "; ".join(_run_summary(r, base) for r in runs))
    return lines + [""]


def _claim(entry: dict[str, Any]) -> str:
    caption = entry["caption"].strip()
    return caption[len("paper:"):].strip() if caption.lower().startswith("paper:") else caption


def render_index(entries: list[dict[str, Any]], scale: str, readme: Path,
                 provenance: dict[str, Any] | None = None) -> str:
    base = readme.parent
    lines = [
        "# Results",
        "",
        "Generated by `snakemake` (rule `results_index`, `python -m mosaic results-index`); "
        "do not edit — re-run the workflow instead. `snakemake --report results/report.html` "
        "makes the same index as one browsable HTML file.",
        "",
        f"Scale: {SCALE_TEXT.get(scale, f'**{scale}**')}.",
        "",
    ]
    if provenance:
        packages = ", ".join(f"{k} {v}" for k, v in sorted((provenance.get("packages") or {}).items()) if v)
        lines += [f"Written {provenance.get('started_utc')} by code at "
                  f"{provenance_text(provenance) or 'an unknown commit'}; Python {provenance.get('python')} "
                  f"on {provenance.get('platform')}; {packages}. Each run's own provenance (commit, "
                  "seed) is listed with it and stored in its `config.json`.", ""]
    if not entries:
        lines += ["No figures or tables are declared by the workflow yet.", ""]
    sections: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:  # sections in order of first declaration
        sections.setdefault(entry["section"], []).append(entry)
    if len(sections) > 1:
        lines += ["Contents: " + " · ".join(f"[{name}](#{_anchor(name)})" for name in sections), ""]
    for name, group in sections.items():
        lines += [f"## {name}", ""]
        for entry in group:
            lines += _entry_markdown(entry, base, scale)
    return "\n".join(lines).rstrip() + "\n"


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, spaces to dashes, punctuation dropped."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


# -- the Snakemake report: one reStructuredText caption per output ------------------------------
def _rst_escape(text: str) -> str:
    for char in "\\*`_|":
        text = text.replace(char, "\\" + char)
    return text


def caption_rst(entry: dict[str, Any], scale: str) -> str:
    """An output's report caption: the paper's claim, this run's numbers, scale, runs.

    Wrapped in Jinja ``raw`` because Snakemake renders captions as Jinja templates first."""
    lines = [f"**Paper.** {_rst_escape(_claim(entry))}", ""]
    path = Path(entry["path"])
    summary = summary_table(entry) if path.is_file() else None
    if summary is not None:
        frame, csv, total = summary
        more = f", first {len(frame)} of {total} rows" if total > len(frame) else ""
        lines += [f".. list-table:: This run ({_rst_escape(csv.name)}{more})", "   :header-rows: 1", ""]
        for row in [list(map(str, frame.columns))] + [[_cell(v) for v in r] for r in frame.itertuples(index=False)]:
            lines.append("   * - " + _rst_escape(row[0]))
            lines += ["     - " + _rst_escape(cell) for cell in row[1:]]
        lines.append("")
    elif not path.is_file():
        lines += [f"*Not built yet:* ``{path}``", ""]
    note = f" — {entry['scale_note']}" if entry.get("scale_note") else ""
    lines += [f"**Scale.** {_rst_escape(scale + note)}", ""]
    for run in entry.get("runs") or []:
        info = run_info(run)
        prov = provenance_text(info["provenance"])
        lines += [f"- ``{run}``: {_rst_escape(_metrics_text(info['done']))}"
                  + (f" ({_rst_escape(prov)})" if prov else "")]
    body = "\n".join(lines).rstrip() + "\n"
    return "{% raw %}\n" + body + "{% endraw %}\n"


def caption_file(path: str) -> str:
    """The file name of an output's caption in the captions directory."""
    return str(path).replace("/", "__") + ".rst"


def write_captions(entries: list[dict[str, Any]], scale: str, captions: dict[str, str]) -> None:
    """Write each entry's caption to ``captions[entry path]`` (unchanged files are left alone)."""
    for entry in check_manifest(entries):
        target = Path(captions[entry["path"]])
        text = caption_rst(entry, scale)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            write_text(target, text)


def main(argv: list[str] | None = None, prog: str = 'mosaic results-index') -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest-json", help="JSON list of declared outputs")
    source.add_argument("--manifest", type=Path, help="file holding that JSON list")
    parser.add_argument("--scale", required=True, help="smoke | default | paper")
    parser.add_argument("--readme", type=Path, default=Path("results/README.md"))
    parser.add_argument("--outputs-json", type=Path, default=None,
                        help="also write the list of declared outputs here")
    parser.add_argument("--captions", type=Path, default=None,
                        help="directory for the Snakemake report's caption of each output (caption_file())")
    args = parser.parse_args(argv)
    raw = args.manifest.read_text(encoding="utf-8") if args.manifest else args.manifest_json
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"manifest is not valid JSON: {exc}") from None
    entries = check_manifest(manifest)
    write_text(args.readme, render_index(entries, args.scale, args.readme, collect_provenance()))
    if args.outputs_json is not None:
        write_json(args.outputs_json, {"scale": args.scale, "outputs": [e["path"] for e in entries]})
    if args.captions is not None:
        write_captions(entries, args.scale, {e["path"]: str(args.captions / caption_file(e["path"])) for e in entries})
    return 0

