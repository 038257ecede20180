"""The fused feature-extractor steps (mosaic/fused_features.py) against the plain tensor ops they
replace: same values and same gradients (float64, 1e-10), and the memory layouts they promise."""
import pytest
import torch
import torch.nn.functional as F

from mosaic.model.contextual_memory import ContextualMemory, kernel_smoothing_merged
from mosaic.model.features import merge_heads, normalize, split_heads
from mosaic.kernels.autograd import lookahead_normalize, scaled_normalize
from mosaic.model.persistent_memory import PersistentMemory

TOL = dict(rtol=0, atol=1e-10)


def plain_values(u, u_next, lam, alpha, n_head):
    """Eq. 7's values with plain ops: ``α (u_t + λ u_{t+1}) / ‖·‖``, ``u_T = u_next`` or 0."""
    uh = split_heads(u, n_head)
    if u_next is None:
        ahead = F.pad(uh[:, :, 1:], (0, 0, 0, 1))
    else:
        ahead = torch.cat([uh[:, :, 1:], split_heads(u_next, n_head)], dim=2)
    return normalize(uh + lam[:, None, None] * ahead, alpha)


def explicit_kernel_smoothing(k, v, scale=1.0):
    """Eq. 8 as an explicit masked softmax (diagonal and future excluded, row 0 empty), units
    concatenated: (B, T, H·d)."""
    T = k.size(2)
    scores = scale * (k @ k.transpose(-1, -2))
    allowed = torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1)
    w = torch.nan_to_num(torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1), nan=0.0)
    return merge_heads(w @ v)


def grads(out, inputs, upstream):
    return torch.autograd.grad((out * upstream).sum(), [t for t in inputs if t is not None])


@pytest.mark.parametrize("heads_major", [False, True])
def test_scaled_normalize_equals_plain_ops(heads_major):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 9, 5, dtype=torch.float64)
    x[1, 2, 3] = 0.0  # a zero vector: output 0, finite gradients
    x.requires_grad_(True)
    alpha = torch.tensor([0.5, 1.0, 2.7, 9.0], dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(3, 4, 9, 5, dtype=torch.float64)
    fused = scaled_normalize(x, alpha, heads_major)
    plain = normalize(x, alpha)
    torch.testing.assert_close(fused, plain, **TOL)
    for a, b in zip(grads(fused, (x, alpha), upstream), grads(plain, (x, alpha), upstream)):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    if heads_major:  # folding the batch into the query axis is then a view
        assert fused.transpose(0, 1).is_contiguous()


def test_scaled_normalize_passes_gradcheck_on_a_strided_input():
    torch.manual_seed(1)
    base = torch.randn(4, 3, 2, 6, dtype=torch.float64, requires_grad=True)  # (H, T, B, d)
    alpha = torch.rand(4, dtype=torch.float64, requires_grad=True) + 0.5
    assert torch.autograd.gradcheck(lambda b, a: scaled_normalize(b.permute(2, 0, 1, 3), a), (base, alpha))


@pytest.mark.parametrize("with_next", [False, True])
def test_lookahead_normalize_equals_plain_ops(with_next):
    torch.manual_seed(2)
    B, T, H, d = 2, 7, 3, 4
    u = torch.randn(B, T, H * d, dtype=torch.float64, requires_grad=True)
    u_next = torch.randn(B, 1, H * d, dtype=torch.float64, requires_grad=True) if with_next else None
    lam = torch.tensor([0.3, 1.0, 3.0], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor([0.6, 1.0, 1.7], dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(B, H, T, d, dtype=torch.float64)
    fused = lookahead_normalize(u, u_next, lam, alpha, H)
    plain = plain_values(u, u_next, lam, alpha, H)
    torch.testing.assert_close(fused, plain, **TOL)
    inputs = (u, u_next, lam, alpha)
    for a, b in zip(grads(fused, inputs, upstream), grads(plain, inputs, upstream)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert fused.is_contiguous()  # the layout the attention kernel reads fastest


def test_lookahead_normalize_passes_gradcheck():
    torch.manual_seed(3)
    u = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    u_next = torch.randn(2, 1, 6, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor([0.8, 1.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: lookahead_normalize(*a, 2), (u, u_next, lam, alpha))
    assert torch.autograd.gradcheck(lambda u, l, a: lookahead_normalize(u, None, l, a, 2), (u, lam, alpha))


@pytest.mark.parametrize("T", [1, 2, 33])
def test_kernel_smoothing_merged_equals_explicit_softmax(T):
    torch.manual_seed(4)
    k = torch.randn(2, 3, T, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 3, T, 4, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, T, 12, dtype=torch.float64)
    merged = kernel_smoothing_merged(k, v, 1.5)
    plain = explicit_kernel_smoothing(k, v, 1.5)
    torch.testing.assert_close(merged, plain, **TOL)
    if T > 1:  # at T = 1 the output is the empty memory's zeros, with no graph
        for a, b in zip(grads(merged, (k, v), upstream), grads(plain, (k, v), upstream)):
            torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("needs_grad", ["keys", "values"])
def test_kernel_smoothing_gradient_of_one_input(needs_grad):
    """The CPU path that assembles the slice gradients itself, with only one input in the graph."""
    torch.manual_seed(6)
    k = torch.randn(2, 3, 9, 4, dtype=torch.float64, requires_grad=needs_grad == "keys")
    v = torch.randn(2, 3, 9, 4, dtype=torch.float64, requires_grad=needs_grad == "values")
    upstream = torch.randn(2, 9, 12, dtype=torch.float64)
    x = k if needs_grad == "keys" else v
    (a,) = torch.autograd.grad((kernel_smoothing_merged(k, v) * upstream).sum(), x)
    (b,) = torch.autograd.grad((explicit_kernel_smoothing(k, v) * upstream).sum(), x)
    torch.testing.assert_close(a, b, **TOL)


def test_memory_layers_equal_their_plain_op_versions():
    """Both layers of a mosaic block, fused, against the same layer computed with plain ops."""
    torch.manual_seed(5)
    x = torch.randn(2, 11, 12, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 11, 12, dtype=torch.float64)

    ctx = ContextualMemory(12, 3).double()
    k_plain = normalize(ctx.key.leaky(ctx.key.W_phi(x)), ctx.key.alpha())
    v_plain = plain_values(ctx.value.W_psi(x), None, ctx.value.lam(), ctx.value.alpha(), 3)
    plain = ctx.W_z(explicit_kernel_smoothing(k_plain, v_plain))
    fused = ctx(x)
    torch.testing.assert_close(fused, plain, **TOL)
    params = (x, *ctx.parameters())
    for a, b in zip(grads(fused, params, upstream), grads(plain, params, upstream)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)

    pm = PersistentMemory(12, 3, 10).double()
    q = normalize(pm.key.leaky(pm.key.W_phi(x)), pm.key.alpha())  # (B, H, T, d)
    w = torch.softmax(q @ pm.slot_keys.transpose(-1, -2), dim=-1)  # (B, H, T, N)
    alpha_o = torch.exp(10 * pm.out_log_scale)[:, None, None]
    plain = pm.W_o(merge_heads(alpha_o * (w @ pm.slot_values)))
    fused = pm(x)
    torch.testing.assert_close(fused, plain, **TOL)
    params = (x, *pm.parameters())
    for a, b in zip(grads(fused, params, upstream), grads(plain, params, upstream)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
