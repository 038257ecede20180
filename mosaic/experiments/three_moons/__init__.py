"""Three moons (paper section 3, Figs. 4-6): predictive disentanglement on a toy system.

Three moons circle a planet with periods drawn from {0.5, ..., 3.5}; a one-layer network of
contextual memory units predicts the next observation. With one unit the forecast becomes accurate
only once the context holds a full common period; with three units each unit learns one moon
and the forecast is accurate once the slowest individual period is covered.

Modules: :mod:`.data` (windows), :mod:`.model` (complex-structured memory units, cached
decoding), :mod:`.evaluate` (error against context length, per window), :mod:`.transitions`
(where the error falls: claims C1, C2 on one run), :mod:`.claims` (scorecard rows C1-C3),
:mod:`.figures` (Figs. 4-6, decoupling scores); ``python -m mosaic three-moons --help`` is the CLI.
"""
from mosaic.experiments.three_moons.data import ThreeMoonsData, common_period, period_marks, select_triples
from mosaic.experiments.three_moons.model import ComplexLinear, ThreeMoonsModel, clipped_squared_error

__all__ = ["ComplexLinear", "ThreeMoonsData", "ThreeMoonsModel", "clipped_squared_error",
           "common_period", "period_marks", "select_triples"]
