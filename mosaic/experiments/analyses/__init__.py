"""Analyses of trained story language models (paper Fig. 10, 12, 13 and 15).

* :mod:`.position_loss`: mean next-token loss by position in the context window, streamed with
  95% confidence bands (Fig. 10 out-of-distribution, Fig. 13 beyond the trained context);
* :mod:`.attention`: last-position attention averaged over windows (Fig. 12, 13) and the width
  of the recent-token peak against the mosaic's learned λ_φ (Fig. 15);
* :mod:`.window_arrays`: each measurement's per-window arrays (``.npz`` next to its CSV), the
  independent units of the scorecard's bootstrap;
* :mod:`.figures`: the figures and tables from the measurement CSVs;
* :mod:`.claims`: scorecard rows C6, C9, C10, C11 (``claim_results(results_dir)``);
* ``python -m mosaic analyses``: the CLI the Snakemake rules (``workflow/rules/analyses.smk``) call.
"""
from mosaic.experiments.analyses.attention import (
                                                   average_attention,
                                                   lambda_width_table,
                                                   last_position_frame,
                                                   peak_widths,
                                                   spearman,
                                                   unit_attention,
)
from mosaic.experiments.analyses.position_loss import PositionStats, WindowLosses, position_loss, token_losses

__all__ = [
    "PositionStats",
    "WindowLosses",
    "average_attention",
    "lambda_width_table",
    "last_position_frame",
    "peak_widths",
    "position_loss",
    "spearman",
    "token_losses",
    "unit_attention",
]
