"""Induction heads in one block (paper footnote 5; Bietti et al., "Birth of a Transformer: A Memory
Viewpoint", NeurIPS 2023): a single Memory Mosaic block solves in-context recall (``... a b ... a ->
b``), which a transformer needs two blocks for.

A mosaic block can do it alone because its memory units store, at position t, the key of x_t
(a leaky average of the recent inputs, eq. 7) with a value that looks one token ahead (x_{t+1},
eq. 7): querying with the key of the trigger's second occurrence retrieves the token that
followed the first one (eq. 8). A transformer's attention stores keys and values of the same
position, so a first block must copy the previous token into each position before a second
block can match on it.

Modules: :mod:`.data` (the task), :mod:`.experiment` (training, held-out evaluation, table),
:mod:`.figures` (recall accuracy against training step), :mod:`.claims` (scorecard row C12);
``python -m mosaic induction --help`` is the CLI.
"""
from mosaic.experiments.induction.data import Sequences, TaskConfig, generate, make_batch, make_get_batch

__all__ = ["Sequences", "TaskConfig", "generate", "make_batch", "make_get_batch"]
