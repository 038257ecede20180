"""The Memory Mosaic of Zhang, Nolte, Sadhukhan, Chen and Bottou (ICLR 2025, arXiv 2405.06394),
in plain PyTorch: one block's forward and backward is :mod:`.features` (eq. 7), :mod:`.memories`
(eq. 3, 8 and the persistent memory) and :mod:`.network` (Fig. 8). :mod:`.decoding` adds
incremental generation. Faster paths of the same ops live in :mod:`mosaic.kernels`, chosen by
one switch (``MOSAIC_KERNELS=reference|auto``).

Glossary (paper symbol -> code)::

    x_T                     input of a layer at position T           x (B, T, C), after LayerNorm
    unit / memory unit      an associative memory, one "head"        n_head units, d = C / n_head each
    W_φ, λ_φ, α_φ           key projection, leak, key scale (eq. 7)  KeyExtractor.W_phi, .lam(), .alpha()
    k̄_T, k_T                leaky average, normalised key            leaky_average(), key_features()
    W_ψ, λ_ψ, α_ψ           value projection, look-ahead, scale      ValueExtractor.W_psi, .lam(), .alpha()
    v̄_T, v_T                look-ahead mix, normalised value         value_features()
    y_T = Σ softmax(k·k) v  kernel smoothing over t < T (eq. 8)      kernel_smoothing(), kernel_smoothing_weights()
    W_z                     combination of the units (eq. 3)         ContextualMemory.W_z
    β = α_φ²                inverse temperature of the kernel        carried by the keys' scale (no 1/√d)
    persistent memory       N learned (key, value) slots per unit    PersistentMemory.slot_keys, .slot_values
    N = 3.5·C               slots per unit (GPT-2 parameter parity)  MemoryMosaicConfig.slots
    α_o                     persistent output scale                  PersistentMemory.out_log_scale
    N_b                     number of blocks (depth)                 MemoryMosaicConfig.n_layer
"""
from mosaic.model.network import MemoryMosaic, MemoryMosaicConfig, MosaicBlock

__all__ = ["MemoryMosaic", "MemoryMosaicConfig", "MosaicBlock"]
