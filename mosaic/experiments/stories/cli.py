"""Story language modelling (paper section 5): data, Table 2, Table 3, Fig. 9, Tables 1 and 5.

    mosaic stories prepare     --config-json '<stories.data as JSON>' --out DATA_DIR
    mosaic stories table2      --data DATA_DIR [DATA_DIR ...] --out results/tables/table2_corpus_stats
    mosaic stories prepare-ood --config-json '<stories.ood as JSON>' --data DATA_DIR --out OOD_DIR
    mosaic stories sample      --config-json '<stories.data as JSON>' [--split val] [--n 3]
    mosaic stories train       --config config/config.yaml --arch mosaic --set n_layer=2 --data DATA_DIR --out RUN
    mosaic stories table3      --runs RUN... --out results/tables/table3_hparam_search
    mosaic stories fig09       --runs RUN... --data DATA_DIR --losses TABLE --out FIG.png
    mosaic stories continuations --runs RUN... --data DATA_DIR --title T --out TABLE.md
"""
from __future__ import annotations

import argparse

from mosaic.experiments.stories import data_cli, lm


def main(argv: list[str] | None = None, prog: str = "mosaic stories") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data_cli.add_commands(sub)
    lm.add_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)
