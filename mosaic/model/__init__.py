"""The Memory Mosaic model (paper sections 3-5, Fig. 8)."""
from mosaic.model.network import MemoryMosaic, MemoryMosaicConfig, MosaicBlock
