"""``python -m mosaic <experiment> <step> ...``: see :mod:`mosaic.cli`."""
from mosaic.cli import console

console()
