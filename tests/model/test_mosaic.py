"""The Memory Mosaic against the paper's definitions (eq. 7, 8) written out naively here, on both
paths of the kernel switch (``reference``: mosaic.model alone; ``auto``: the fast paths)."""
import math

import pytest
import torch

from mosaic import build_model
from mosaic.kernels import select
from mosaic.model.memories import ContextualMemory, PersistentMemory, kernel_smoothing, kernel_smoothing_weights

PATHS = ["reference", "auto"]

GPT2_SMALL_PARAMS = 124_439_808


def naive_contextual_memory(layer: ContextualMemory, x: torch.Tensor) -> torch.Tensor:
    """Eq. 7 and 8 as loops over units, positions T and memories t < T."""
    B, T, C = x.shape
    H = layer.n_head
    d = C // H
    Wphi = layer.key.W_phi.weight
    Wpsi = layer.value.W_psi.weight
    lam_phi, a_phi = layer.key.lam(), layer.key.alpha()
    lam_psi, a_psi = layer.value.lam(), layer.value.alpha()
    y = torch.zeros(B, T, C, dtype=x.dtype)
    for b in range(B):
        for h in range(H):
            rows = slice(h * d, (h + 1) * d)
            keys, vals, kbar = [], [], torch.zeros(d, dtype=x.dtype)
            for t in range(T):
                kbar = Wphi[rows] @ x[b, t] + lam_phi[h] * kbar
                keys.append(a_phi[h] * kbar / kbar.norm())
                ahead = Wpsi[rows] @ x[b, t + 1] if t + 1 < T else torch.zeros(d, dtype=x.dtype)
                vbar = Wpsi[rows] @ x[b, t] + lam_psi[h] * ahead
                vals.append(a_psi[h] * vbar / vbar.norm())
            for Tq in range(1, T):
                scores = torch.stack([keys[Tq] @ keys[t] for t in range(Tq)])
                w = torch.softmax(scores, dim=0)
                y[b, Tq, rows] = sum(w[t] * vals[t] for t in range(Tq))
    return y @ layer.W_z.weight.T


@pytest.mark.parametrize("path", PATHS)
def test_contextual_memory_equals_naive_eq8(path):
    torch.manual_seed(0)
    layer = ContextualMemory(12, 3, kernels=select(path)).double().eval()
    with torch.no_grad():  # non-trivial scales so the test sees α and λ_ψ
        layer.key.log_scale.copy_(torch.tensor([0.05, 0.1, 0.15]))
        layer.value.log_scale.copy_(torch.tensor([0.0, -0.05, 0.02]))
    x = torch.randn(2, 20, 12, dtype=torch.float64)
    torch.testing.assert_close(layer(x), naive_contextual_memory(layer, x), rtol=0, atol=1e-5)


def test_kernel_smoothing_weights_sum_to_one_over_the_past():
    torch.manual_seed(0)
    k, v = torch.randn(2, 3, 17, 4), torch.randn(2, 3, 17, 4)
    w = kernel_smoothing_weights(k, 2.0)
    assert torch.all(w[:, :, 0] == 0)
    assert torch.all(w.triu() == 0)  # diagonal and future excluded
    torch.testing.assert_close(w[:, :, 1:].sum(-1), torch.ones(2, 3, 16))
    torch.testing.assert_close(kernel_smoothing(k, v, 2.0), (w @ v).transpose(1, 2).reshape(2, 17, 12))


def test_mosaic_current_token_changes_its_own_logits():
    """Values look one step ahead, but the key of x_t is the query at t: x_t must matter at t."""
    torch.manual_seed(0)
    model = build_model("mosaic", vocab_size=40, n_layer=2, n_head=4, n_embd=32, block_size=16).eval()
    idx = torch.randint(0, 40, (1, 16))
    t = 9
    other = idx.clone()
    other[0, t] = (idx[0, t] + 1) % 40
    a, _ = model(idx)
    b, _ = model(other)
    assert (a[0, t] - b[0, t]).abs().max() > 1e-4
    torch.testing.assert_close(a[0, :t], b[0, :t], rtol=0, atol=1e-6)


def test_mosaic_gpt2_small_parameter_parity():
    with torch.device("meta"):
        mosaic = build_model("mosaic", vocab_size=50257, n_layer=12, n_head=12, n_embd=768, block_size=1024)
    assert mosaic.config.slots == 2688
    assert abs(mosaic.num_params() - GPT2_SMALL_PARAMS) / GPT2_SMALL_PARAMS < 0.01
    # one block alone: 12·C² like a GPT-2 block (which also has biases and LayerNorms: 12C² + 13C)
    block = sum(p.numel() for p in mosaic.blocks[0].parameters())
    gpt2_block = 12 * 768**2 + 13 * 768
    assert abs(block - gpt2_block) / gpt2_block < 0.01


@pytest.mark.parametrize("path", PATHS)
def test_gradients_reach_lambda_and_alpha(path):
    torch.manual_seed(0)
    model = build_model("mosaic", vocab_size=30, n_layer=1, n_head=2, n_embd=16, block_size=12, kernels=path)
    idx = torch.randint(0, 30, (2, 12))
    _, loss = model(idx, idx)
    loss.backward()
    block = model.blocks[0]
    for name, p in [
        ("λ_φ (contextual)", block.contextual.key.leak),
        ("α_φ (contextual)", block.contextual.key.log_scale),
        ("λ_ψ", block.contextual.value.mix),
        ("α_ψ", block.contextual.value.log_scale),
        ("λ_φ (persistent)", block.persistent.key.leak),
        ("α_φ (persistent)", block.persistent.key.log_scale),
    ]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_mosaic_runs_beyond_training_context():
    model = build_model("mosaic", vocab_size=30, n_layer=1, n_head=2, n_embd=16, block_size=8)
    logits, _ = model(torch.randint(0, 30, (1, 3 * 8)))
    assert logits.shape == (1, 24, 30) and torch.isfinite(logits).all()


def test_initial_lambdas_spread_over_beta_range():
    model = build_model("mosaic", vocab_size=30, n_layer=2, n_head=4, n_embd=16, block_size=8)
    lam = model.leaky_lambdas()
    assert lam.shape == (2, 4)
    torch.testing.assert_close(lam[0], torch.exp(-torch.linspace(0.5, 5.0, 4)))
    assert math.isclose(model.blocks[0].contextual.key.alpha()[0].item(), math.e, rel_tol=1e-6)


def _grads(out: torch.Tensor, inputs: list[torch.Tensor], weight: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad((out * weight).sum(), inputs))


def naive_persistent_memory(layer, x: torch.Tensor) -> torch.Tensor:
    """Section 5's persistent memory written out: explicit softmax over the slots per unit,
    α_o on each unit's output, then W_o."""
    q = layer.key(x)  # (B, H, T, d): α_φ² k̄ / ‖k̄‖
    w = torch.softmax(q @ layer.slot_keys.unsqueeze(0).transpose(-1, -2), dim=-1)  # (B, H, T, N)
    y = (w @ layer.slot_values.unsqueeze(0)) * torch.exp(10 * layer.out_log_scale)[:, None, None]
    B, H, T, d = y.shape
    return layer.W_o(y.transpose(1, 2).reshape(B, T, H * d))


@pytest.mark.parametrize("path", PATHS)
def test_persistent_memory_matches_naive_softmax(path):
    """The retrieval over the slots against the explicit formulation: values and gradients."""
    torch.manual_seed(0)
    layer = PersistentMemory(16, 4, n_slots=11, kernels=select(path)).double()
    with torch.no_grad():
        layer.out_log_scale.copy_(torch.tensor([0.03, -0.05, 0.0, 0.1]))
    x = torch.randn(3, 13, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 13, 16, dtype=torch.float64)
    inputs = [x, *layer.parameters()]
    fast, reference = layer(x), naive_persistent_memory(layer, x)
    torch.testing.assert_close(fast, reference, rtol=0, atol=1e-12)
    for g_fast, g_ref in zip(_grads(fast, inputs, weight), _grads(reference, inputs, weight)):
        torch.testing.assert_close(g_fast, g_ref, rtol=0, atol=1e-10)
