"""The SLURM profile: the paper-scale DAG resolves under `executor: slurm` (a dry run needs no
cluster), training jobs ask for the resources the paper config gives their kind, figure and table
rules stay on the submitting node, and a malformed `resources` block is refused."""
from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO, job_counts, results_snapshot, snakemake

pytestmark = pytest.mark.workflow  # runs Snakemake (deselect with -m 'not workflow')

pytest.importorskip("snakemake_executor_plugin_slurm")  # in the dev extra; `pip install -e ".[slurm]"`

PAPER = ["--profile", "profiles/slurm", "--configfile", "config/paper.yaml"]
# rule -> the kind of job its resources come from (config `resources.<kind>`)
CLUSTER_RULES = {
    "three_moons_train": "three_moons", "three_moons_evaluate": "three_moons",
    "stories_data": "data", "stories_hparam_run": "lm_train", "stories_train": "lm_train",
    "analyses_ood_data": "data", "analyses_train": "lm_train", "analyses_measure": "lm_eval",
    "regbench_data": "data", "regbench_train": "regbench_train", "regbench_select": "regbench_eval",
    "perf_scaling": "lm_eval",
}
LOCAL_RULES = {"three_moons_figure", "three_moons_transitions_table", "three_moons_weights", "table2",
               "table3", "fig09", "table1", "table5", "fig10", "fig12", "fig13", "fig15",
               "regbench_ngram", "fig11", "table4", "runtime_table", "results_index"}


def paper_resources() -> dict[str, dict]:
    """config.yaml's `resources` updated by paper.yaml's, kind by kind (as Snakemake merges)."""
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())["resources"]
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())["resources"]
    return {kind: {**spec, **paper.get(kind, {})} for kind, spec in base.items()}


def dry_run_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job block of a dry run (`rule NAME:` ... `resources: k=v, ...`)."""
    jobs, rule = [], None
    for line in output.splitlines():
        if m := re.fullmatch(r"(?:local)?(?:rule|checkpoint) (\S+):", line.strip()):
            rule = m.group(1)
            jobs.append((rule, {}))
        elif rule and line.strip().startswith("resources:"):
            pairs = line.strip()[len("resources:"):].split(", ")
            jobs[-1][1].update(p.strip().split("=", 1) for p in pairs if "=" in p)
    return jobs


@pytest.fixture(scope="module")
def paper_dry_run():
    before = results_snapshot()
    proc = snakemake("-n", "--forceall", *PAPER, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert results_snapshot() == before, "a dry run must not write to results/"
    return proc.stdout + proc.stderr


def test_paper_dag_resolves_under_slurm(paper_dry_run):
    jobs = dry_run_jobs(paper_dry_run)
    counts = job_counts(paper_dry_run)
    assert len(jobs) == sum(counts.values()) > 1000, (len(jobs), counts)  # every job printed
    assert counts["regbench_train"] == 1152 and counts["stories_train"] == 36, counts


def test_cluster_jobs_carry_paper_resources(paper_dry_run):
    expected = paper_resources()
    seen = set()
    for rule, resources in dry_run_jobs(paper_dry_run):
        if rule not in CLUSTER_RULES:
            continue
        seen.add(rule)
        spec = expected[CLUSTER_RULES[rule]]
        for key in ("runtime", "mem_mb", "cpus_per_task", "gpu"):
            assert resources.get(key) == str(spec[key]), (rule, key, resources)
    assert seen == set(CLUSTER_RULES), sorted(set(CLUSTER_RULES) - seen)
    assert expected["lm_train"]["gpu"] >= 1 and expected["regbench_train"]["gpu"] >= 1  # paper: GPUs


def test_figure_and_table_rules_are_local():
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(snakefile=REPO / "Snakefile", workdir=REPO,
                                config_settings=ConfigSettings(configfiles=[REPO / "config/paper.yaml"]),
                                resource_settings=ResourceSettings(cores=1))._workflow
        local = set(workflow._localrules)  # what the `localrules:` directives declared
    assert LOCAL_RULES <= local, sorted(LOCAL_RULES - local)
    assert not local & set(CLUSTER_RULES), sorted(local & set(CLUSTER_RULES))


@pytest.mark.parametrize("overlay, named", [
    ({"lm_train": {"gpus": 1}}, "gpus"),  # the plugin's key is `gpu`
    ({"regbench_train": {"runtime": 0}}, "runtime"),
    ({"training": {"runtime": 10, "mem_mb": 1, "cpus_per_task": 1, "gpu": 0}}, "training"),
])
def test_bad_resources_are_rejected(tmp_path, overlay, named):
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump({"resources": overlay}))
    proc = snakemake("-n", "--configfile", str(path))
    assert proc.returncode != 0
    assert named in proc.stderr + proc.stdout
