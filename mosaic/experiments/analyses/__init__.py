"""Analyses of trained story language models (paper Fig. 10, 12, 13 and 15).

* :mod:`.position_loss`: mean next-token loss by position in the context window, streamed with
  95% confidence bands (Fig. 10 out-of-distribution, Fig. 13 beyond the trained context);
* :mod:`.attention`: last-position attention averaged over windows (Fig. 12, 13) and the width
  of the recent-token peak against the mosaic's learned λ_φ (Fig. 15);
* :mod:`.figures`: the figures and tables from the measurement CSVs;
* ``python -m mosaic analyses``: the CLI the Snakemake rules (``workflow/rules/analyses.smk``) call.
"""
from mosaic.experiments.analyses.attention import average_attention, lambda_width_table, last_position_frame, peak_widths, spearman
from mosaic.experiments.analyses.position_loss import PositionStats, position_loss, token_losses

__all__ = [
    "PositionStats",
    "average_attention",
    "lambda_width_table",
    "last_position_frame",
    "peak_widths",
    "position_loss",
    "spearman",
    "token_losses",
]
