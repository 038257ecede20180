"""`snakemake --report` after exactly the README's install (issue 22).

Snakemake installs what building a report needs only with its ``reports`` extra; the package's
runtime dependencies must bring it in. The full check (fresh virtual environment, the README's
``pip install -e .``, a smoke run of fig04, its report) is a step of ``.ci/run`` (it takes minutes
of installs); here, the declaration it relies on and that the step runs what the README says.
"""
from __future__ import annotations

import re
from importlib.metadata import requires

import pytest

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
pytestmark = pytest.mark.workflow


def requirement_name(spec: str) -> tuple[str, set[str]]:
    """``"snakemake[reports]>=8.0"`` -> ``("snakemake", {"reports"})`` (names normalised)."""
    match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?", spec)
    assert match, spec
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), extras


def test_runtime_dependencies_cover_what_snakemake_reports_need():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = dict(requirement_name(spec) for spec in project["dependencies"])
    report_needs = [requirement_name(r.split(";")[0])[0] for r in requires("snakemake") or []
                    if re.search(r"""extra\s*==\s*["']reports["']""", r)]
    assert report_needs, "the installed Snakemake declares no 'reports' extra: check what --report needs now"
    via_extra = "reports" in declared.get("snakemake", set())
    missing = [name for name in report_needs if not via_extra and name not in declared]
    assert not missing, f"snakemake --report needs {missing}, which `pip install -e .` does not install"


def test_ci_builds_a_report_after_exactly_the_readme_install():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    install = re.search(r"^(pip install -e \.) && snakemake", readme, flags=re.M)
    assert install, "the README's install command moved: update .ci/run's report step"
    step = ci[ci.index("report_after_readme_install() {"):]
    assert f"{install.group(1)} ||" in step and "python -m venv" in step
    assert "--report results/report.html" in step
    assert 'pip install -e ".[dev]" && python -m pytest' in ci  # the README's test command, still there
