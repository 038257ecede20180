"""The one command line of the project: ``mosaic <experiment> <step> [options]``.

Every Snakemake rule calls a step through it, and every step runs by hand the same way::

    mosaic three-moons train --heads 3 --out results/runs/three_moons/three_heads
    mosaic stories prepare --config config/config.yaml --out results/data/stories
    mosaic stories train --arch mosaic --set n_layer=2 --data results/data/stories --out RUN
    mosaic analyses position-loss --run RUN --data results/data/ood --windows 300 --out pl.csv
    mosaic regbench generate --config config/config.yaml --out results/data/regbench
    mosaic claims --results results --out results/tables/claims

``python -m mosaic ...`` is the same command without installing the console script.
``mosaic <experiment> --help`` lists an experiment's steps. Bad input ends in one line
``error: ...`` and exit status 2 (:func:`mosaic.harness.config.run_cli`).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from mosaic.harness.config import run_cli

# experiment name -> module with ``main(argv) -> int`` (imported only when that experiment runs:
# each pulls in its own heavy dependencies)
COMMANDS = {
    "three-moons": "mosaic.experiments.three_moons.cli",
    "stories": "mosaic.experiments.stories.cli",
    "analyses": "mosaic.experiments.analyses.cli",
    "regbench": "mosaic.experiments.regbench.cli",
    "induction": "mosaic.experiments.induction.cli",
    "claims": "mosaic.experiments.claims",
    "results-index": "mosaic.harness.results_index",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="mosaic", description=__doc__.splitlines()[0],
                                     epilog="experiments: " + ", ".join(COMMANDS))
    parser.add_argument("experiment", choices=sorted(COMMANDS), help="which experiment's step to run")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    module = importlib.import_module(COMMANDS[args.experiment])
    return module.main(argv[1:], prog=f"mosaic {args.experiment}")


def console() -> None:
    """Entry point of the ``mosaic`` console script."""
    run_cli(main)
