"""Model FLOPs per token, for MFU (model FLOP utilisation = achieved model FLOP/s / matmul peak).

nanoGPT's convention (Kaplan et al. 2020; PaLM appendix B), applied to every architecture:

* every weight that multiplies activations costs 2 FLOPs per token in the forward pass (one
  multiply-accumulate) and 4 more in the backward (gradients of the input and of the weight):
  ``6 · N`` per trained token, where ``N`` (:func:`matmul_params`) counts the weight tensors of
  two or more dimensions — linear layers, the tied output head (its padded rows included: they
  are multiplied), recurrent weight matrices, the SSM's depthwise convolution, the mosaic's
  persistent key/value slots — and leaves out embedding lookups (token table unless tied,
  learned positions), biases and norms;
* work whose size depends on the context, i.e. sequence mixing that is not a weight, is added
  per model (:func:`mixing_flops_per_token`, forward FLOPs; training = 3 x forward):

  - transformer: ``Q·Kᵀ`` and ``P·V``, ``2·T·d`` each per layer, i.e. ``12·L·T·d`` per trained
    token, counted over the full T x T square as nanoGPT and PaLM do (causal kernels skip about
    half of it; counting the full square keeps MFU comparable with published figures);
  - mosaic: the contextual memory's kernel smoothing (eq. 8) is the same product with the keys
    as queries, ``12·L·T·d``; the leaky averages of the key extractors (eq. 7, 2 FLOPs per
    channel: ``x_T + λ·k̄_{T-1}``) and the values' look-ahead mix (2 per channel) are counted
    as the recurrence they compute, not as the chunked scan's Q x Q products that implement
    them (an implementation's extra work is not model FLOPs). The persistent memory's slots
    are weights used once per token and are in ``6·N``;
  - SSM (Mamba-2): the recurrence ``h_t = exp(Δ_t A) h_{t-1} + Δ_t x_t B_tᵀ``, ``y_t = h_t C_t``
    costs ``5·P·N`` per head and token (decay, outer-product accumulate, read-out), i.e.
    ``5·d_inner·d_state`` per layer; again the recurrence, not the chunked SSD products;
  - LSTM / GRU: the recurrent matrices are weights (in ``6·N``); gate non-linearities are
    element-wise and not counted;
  - any other (plug-in) architecture: ``6·N`` only, and the printout says so.

The formulas are written out, with hand-computed examples, in ``docs/performance.md``;
``tests/test_benchmarks.py`` checks them on small configurations.
"""
from __future__ import annotations

import torch.nn as nn

from mosaic.baselines.recurrent import RecurrentLM
from mosaic.baselines.ssm import SSM, Mamba2Mixer
from mosaic.baselines.transformer import Transformer
from mosaic.model.features import KeyExtractor, ValueExtractor
from mosaic.model.network import MemoryMosaic


def matmul_params(model: nn.Module) -> int:
    """``N``: parameters of every weight tensor with >= 2 dims, shared tensors once, without
    embedding tables that are only looked up (a table tied to a linear head is kept)."""
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    lookup_only = {
        id(m.weight) for m in model.modules()
        if isinstance(m, nn.Embedding) and id(m.weight) not in linear_weights
    }
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or id(p) in lookup_only or p.dim() < 2:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def mixing_flops_per_token(model: nn.Module, T: int) -> tuple[float, str]:
    """Forward FLOPs per token of the sequence mixing not in ``2·N``, at context ``T``, and a
    one-line formula. See the module docstring for what is counted and why."""
    model = getattr(model, "_orig_mod", model)  # a torch.compile wrapper counts as the model it runs
    cfg = model.config
    L, d = cfg.n_layer, cfg.n_embd
    if isinstance(model, Transformer):
        return 4.0 * L * T * d, "6N + 12·L·T·d"
    if isinstance(model, MemoryMosaic):
        leaky = sum(2 * m.W_phi.out_features for m in model.modules()
                    if isinstance(m, KeyExtractor) and m.leak is not None)
        mix = sum(2 * m.W_psi.out_features for m in model.modules()
                  if isinstance(m, ValueExtractor) and m.mix is not None)
        return 4.0 * L * T * d + leaky + mix, "6N + 12·L·T·d + 3·(2·d per leaky average + 2·d per value mix)"
    if isinstance(model, SSM):
        scan = sum(5 * m.d_inner * m.d_state for m in model.modules() if isinstance(m, Mamba2Mixer))
        return float(scan), "6N + 3·5·L·d_inner·d_state"
    if isinstance(model, RecurrentLM):
        return 0.0, "6N (recurrent matrices are in N)"
    return 0.0, "6N (no mixing term known for this architecture)"


def train_flops_per_token(model: nn.Module, T: int) -> float:
    """Model FLOPs of forward + backward per trained token at context ``T``: ``6·N + 3·mixing``."""
    return 6.0 * matmul_params(model) + 3.0 * mixing_flops_per_token(model, T)[0]


def formula(model: nn.Module) -> str:
    """The counting formula of ``model`` (for the printout)."""
    return mixing_flops_per_token(model, 1)[1]
