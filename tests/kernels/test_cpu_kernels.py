"""The C kernels (mosaic/kernels/csrc, mosaic/kernels/cpu.py) against float64 references of the
plain formulas, forward and gradients (1e-5), on shapes that hit every tail of their tiling: the
persistent memory's slot attention and the feature extractors' passes (keys: leaky average +
normalisation; values: look-ahead mix + normalisation); the paths the switch takes where they do
not apply; and the build (cached, atomic, failing cleanly)."""
import os
import platform
import shutil
from pathlib import Path

import pytest
import torch

import mosaic.kernels as kernels
import mosaic.kernels.cpu as ck
from mosaic.model import features as reference
from mosaic.model.features import KeyExtractor, ValueExtractor
from mosaic.model.memories import PersistentMemory

KERNEL_HERE = (platform.machine().lower() in ("x86_64", "amd64")
               and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
               and (shutil.which("cc") or shutil.which("gcc")) is not None
               and os.environ.get("MOSAIC_CPU_KERNELS", "1") != "0")
needs_kernel = pytest.mark.skipif(not KERNEL_HERE, reason="needs x86-64 with AVX2 and a C compiler")
# every instruction set the kernels can be built for here: AVX2, and AVX-512 where PyTorch runs it
ISAS_HERE = ["avx2", "avx512"] if torch.backends.cpu.get_cpu_capability() == "AVX512" else ["avx2"]


@pytest.fixture(autouse=True)
def kernel_for_any_size(monkeypatch):
    """The kernel on every size tested here (in the model, small query counts go elsewhere)."""
    monkeypatch.setattr(ck, "SLOT_KERNEL_MIN_ROWS", 1)


def load_for(mp: pytest.MonkeyPatch, name: str) -> None:
    """Have the next kernel call build and load the library for instruction set ``name``; the
    loaded library and its state are restored when ``mp`` is undone."""
    for attr in ("_lib", "_isa", "_slot_width", "_parallelism"):
        mp.setattr(ck, attr, getattr(ck, attr))
    mp.setattr(ck, "_lib", None)
    mp.setenv(ck.ISA_ENV, name)


@pytest.fixture(params=ISAS_HERE)
def isa(request, monkeypatch):
    """The kernels built for one instruction set (the library of the others is restored after)."""
    load_for(monkeypatch, request.param)
    if KERNEL_HERE:
        assert ck.available() and ck.built_isa() == request.param
    return request.param


@pytest.fixture
def kernel_calls(monkeypatch):
    """A list that records every call of the slot kernel through the switch."""
    calls = []
    real = ck.slot_kernel

    def spy(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(ck, "slot_kernel", spy)
    return calls


def slot_attention(q, K, V, dropout_p=0.0):
    """The switch's slot attention on queries (H, M, d), in the kernel's (M, H·d) layout."""
    H, M, d = q.shape
    return kernels.FAST_OPS.slot_attention(q.transpose(0, 1).reshape(1, M, H, d).transpose(1, 2), K, V,
                                           dropout_p).view(M, H * d)


def uses_kernel(q, K, V, dropout_p=0.0):
    return ck.slot_kernel_applies(q, K, V, dropout_p)


def explicit(q, K, V):
    """softmax(q Kᵀ) V per unit in float64, units concatenated: (M, H·d)."""
    w = torch.softmax(q.double() @ K.double().transpose(1, 2), dim=-1)
    y = w @ V.double()  # (H, M, d)
    return y.transpose(0, 1).reshape(q.size(1), -1)


def inputs(H, M, N, d, q_scale=1.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(H, M, d, generator=gen) * q_scale
    K = torch.randn(H, N, d, generator=gen) / d**0.5
    V = torch.randn(H, N, d, generator=gen)
    g = torch.randn(M, H * d, generator=gen)
    return q, K, V, g


def value_and_grads(fn, q, K, V, g):
    ts = [t.clone().requires_grad_(True) for t in (q, K, V)]
    y = fn(*ts)
    return (y.detach(), *torch.autograd.grad((y * g.to(y.dtype)).sum(), ts))


def assert_close(a, b, tol=1e-5):
    a, b = a.double(), b.double()
    assert torch.isfinite(a).all()
    err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
    assert err < tol, f"relative error {err:.2e}"


@needs_kernel
def test_kernel_is_built_and_taken_here(kernel_calls):
    """On a machine like CI's the fast path must be the one tested, not silently skipped: built
    for the instruction set PyTorch runs here, and called by the switch."""
    assert ck.available()
    assert ck.built_isa() == ("avx512" if torch.backends.cpu.get_cpu_capability() == "AVX512" else "avx2")
    q, K, V, _ = inputs(2, 8, 5, 32)
    assert uses_kernel(q, K, V)
    slot_attention(q, K, V)
    assert kernel_calls == [(2, 8, 32)]


@needs_kernel
@pytest.mark.parametrize("H,M,N,d", [
    (2, 50, 37, 32),     # rows and slots not multiples of the row tile or the slot padding
    (8, 300, 896, 32),   # the default size's table; rows span several 48-row work items
    (3, 101, 200, 64),   # two or four column passes
    (2, 97, 230, 32),    # a last backward chunk of 38 slots (chunks of 192), rows past 2 items
    (2, 7, 5, 16),       # fewer slots than one padded block (AVX-512: d = 16 goes to SDPA)
    (1, 1, 3, 16),       # one query (incremental decoding)
])
def test_kernel_equals_explicit_softmax(H, M, N, d, isa, kernel_calls):
    q, K, V, g = inputs(H, M, N, d, q_scale=2.0)
    assert uses_kernel(q, K, V) == (d % ck.slot_width() == 0)
    got = value_and_grads(slot_attention, q, K, V, g)
    want = value_and_grads(explicit, q, K, V, g)
    for a, b in zip(got, want):
        assert_close(a, b)
    assert len(kernel_calls) == (d % ck.slot_width() == 0)


@needs_kernel
def test_kernel_handles_large_logits_and_strided_queries(isa, kernel_calls):
    # logits spread over hundreds: most weights underflow to 0, none may become NaN or inf;
    # queries given as a heads-major view of a (M, H, d) tensor (row stride H·d)
    H, M, N, d = 4, 40, 64, 32
    q, K, V, g = inputs(H, M, N, d, q_scale=30.0, seed=1)
    q_strided = q.transpose(0, 1).contiguous().transpose(0, 1)
    assert q_strided.stride(1) == H * d and uses_kernel(q_strided, K, V)
    for a, b in zip(value_and_grads(slot_attention, q_strided, K, V, g), value_and_grads(explicit, q, K, V, g)):
        assert_close(a, b)
    assert kernel_calls


@needs_kernel
def test_instruction_sets_give_the_same_values():
    """The AVX2 and AVX-512 builds agree to float round-off. Not bit-identical: the softmax
    denominators are summed over 8 or 16 lanes, and 2^f's argument is reduced by floor-and-subtract
    or by one instruction; each build is within ~1e-6 of float64 (the tests above), so the two are
    within twice that."""
    if len(ISAS_HERE) < 2:
        pytest.skip("PyTorch does not run AVX-512 here")
    q, K, V, g = inputs(2, 130, 300, 32, q_scale=2.0)
    results = {}
    for name in ISAS_HERE:
        with pytest.MonkeyPatch.context() as mp:
            load_for(mp, name)
            results[name] = value_and_grads(ck.slot_kernel, q, K, V, g)
    for a, b in zip(*results.values()):
        assert_close(a, b, tol=2e-6)


def test_unknown_or_unsupported_instruction_set_is_refused(monkeypatch):
    monkeypatch.setenv(ck.ISA_ENV, "sse2")
    with pytest.raises(ValueError, match="MOSAIC_CPU_ISA must be one of"):
        ck.isa()
    monkeypatch.setenv(ck.ISA_ENV, "avx512")
    monkeypatch.setattr(ck.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    with pytest.raises(ValueError, match="does not run AVX-512"):
        ck.isa()


@needs_kernel
def test_kernel_same_for_any_thread_count():
    q, K, V, g = inputs(3, 97, 70, 32)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = value_and_grads(slot_attention, q, K, V, g)
        torch.set_num_threads(2)
        two = value_and_grads(slot_attention, q, K, V, g)
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one, two):
        assert_close(a, b, tol=1e-6)


@pytest.mark.parametrize("case", ["float64", "d8", "dropout"])
def test_fallback_paths_equal_explicit(case):
    q, K, V, g = inputs(2, 20, 9, 8 if case == "d8" else 16)
    if case == "float64":
        q, K, V = q.double(), K.double(), V.double()
    p = 0.5 if case == "dropout" else 0.0
    assert not uses_kernel(q, K, V, dropout_p=p)
    if case == "dropout":  # random weights: check the shape and that it is not the no-dropout value
        y = slot_attention(q, K, V, dropout_p=p)
        assert y.shape == (20, 2 * 16) and not torch.allclose(y, slot_attention(q, K, V))
        return
    for a, b in zip(value_and_grads(slot_attention, q, K, V, g), value_and_grads(explicit, q, K, V, g)):
        assert_close(a, b)


@needs_kernel
def test_persistent_memory_layer_same_with_kernel_and_sdpa(monkeypatch):
    torch.manual_seed(0)
    layer = PersistentMemory(64, 2, 224, kernels=kernels.FAST_OPS)
    x = torch.randn(3, 17, 64)
    g = torch.randn(3, 17, 64)

    def run():
        xs = x.clone().requires_grad_(True)
        y = layer(xs)
        grads = torch.autograd.grad((y * g).sum(), [xs, *layer.parameters()])
        return (y.detach(), *grads)

    fast = run()
    monkeypatch.setattr(ck, "slot_kernel_applies", lambda *a, **k: False)
    plain = run()
    for a, b in zip(fast, plain):
        assert_close(a, b)


def test_decoding_sized_queries_skip_the_kernel(monkeypatch):
    monkeypatch.setattr(ck, "SLOT_KERNEL_MIN_ROWS", 256)
    q, K, V, _ = inputs(2, 255, 7, 16)
    assert not uses_kernel(q, K, V)


@pytest.mark.parametrize("M", [1, kernels.FEW_SLOT_QUERIES])
def test_few_queries_take_the_matmul_path_with_the_same_values(M, monkeypatch):
    monkeypatch.setattr(ck, "SLOT_KERNEL_MIN_ROWS", 256)

    def no_sdpa(*args, **kwargs):
        raise AssertionError("SDPA taken for a decoding-sized query count")

    monkeypatch.setattr(kernels.F, "scaled_dot_product_attention", no_sdpa)
    q, K, V, g = inputs(3, M, 37, 16)
    for a, b in zip(value_and_grads(slot_attention, q, K, V, g), value_and_grads(explicit, q, K, V, g)):
        assert_close(a, b)


def test_failed_build_falls_back_and_leaves_nothing(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ck, "_lib", None)
    monkeypatch.setattr(ck, "_cpu_has_avx2", lambda: True)
    monkeypatch.setenv("MOSAIC_KERNEL_DIR", str(tmp_path / "kernels"))
    monkeypatch.setenv("CC", shutil.which("false") or "/bin/false")
    assert not ck.available()
    assert "mosaic CPU kernels unavailable" in caplog.text
    assert not list((tmp_path / "kernels").glob("*"))  # no partial library left behind
    q, K, V, g = inputs(2, 10, 7, 16)
    assert_close(slot_attention(q, K, V), explicit(q, K, V))  # the SDPA path


@needs_kernel
def test_build_goes_to_the_cache_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "_lib", None)
    monkeypatch.setenv("MOSAIC_KERNEL_DIR", str(tmp_path))
    assert ck.available()
    built = list(tmp_path.iterdir())
    assert len(built) == 1 and built[0].name.startswith("mosaic_kernels-") and built[0].suffix == ".so"


@needs_kernel
def test_kernels_join_pytorchs_openmp_runtime_where_it_has_one():
    """PyTorch on GNU OpenMP: the library is the OpenMP build and binds to PyTorch's libgomp
    (one in the process), so its threads are PyTorch's workers (csrc/common.h says why)."""
    if not ck._torch_uses_libgomp():
        pytest.skip("PyTorch here does not run on GNU OpenMP")
    assert ck.available() and ck.parallelism().startswith("OpenMP")
    maps = Path("/proc/self/maps").read_text().splitlines()
    assert len({line.split()[-1] for line in maps if "libgomp" in line}) == 1


@needs_kernel
def test_failed_openmp_build_falls_back_to_posix_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "_lib", None)
    monkeypatch.setattr(ck, "_parallelism", "none")
    monkeypatch.setattr(ck, "_torch_uses_libgomp", lambda: True)
    monkeypatch.setattr(ck, "OPENMP", "-fno-such-option-for-mosaic")  # the compiler rejects it
    monkeypatch.setenv("MOSAIC_KERNEL_DIR", str(tmp_path))
    assert ck.available() and ck.parallelism() == "POSIX threads"
    assert len(list(tmp_path.glob("*.so"))) == 1 and not list(tmp_path.glob("tmp*"))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        q, K, V, g = inputs(3, 100, 37, 32)
        got = value_and_grads(slot_attention, q, K, V, g)
        want = value_and_grads(explicit, q.double(), K.double(), V.double(), g.double())
        for a, b in zip(got, want):
            assert_close(a, b)
    finally:
        torch.set_num_threads(before)


# -- keys (leaky average) and values (look-ahead mix), each with its normalisation -------------------
def recurrence(x, lam):
    """``k̄_T = x_T + λ k̄_{T-1}`` as a loop over time, ``x`` (B, H, T, d), ``lam`` (H,)."""
    out, state = torch.empty_like(x), torch.zeros_like(x[:, :, 0])
    for t in range(x.size(2)):
        state = x[:, :, t] + lam[:, None] * state
        out[:, :, t] = state
    return out


def explicit_keys(u, lam, alpha, n_head):
    """Eq. 7's keys with the plain loop over time, float64: α k̄ / (‖k̄‖ + ε), (B, H, T, d)."""
    B, T, C = u.shape
    kbar = recurrence(u.double().view(B, T, n_head, -1).transpose(1, 2), lam.double())
    return alpha.double()[:, None, None] * kbar / (kbar.norm(dim=-1, keepdim=True) + 1e-10)


@needs_kernel
@pytest.mark.parametrize("B,T,C,H", [
    (2, 37, 64, 2),    # d = 32
    (3, 50, 256, 8),   # the default size's units
    (1, 1, 16, 2),     # one position, d = 8
    (2, 300, 128, 1),  # d = 128, one unit
    (2, 20, 32, 2),    # d = 16 and d = 64: the other unrolled row lengths (ITEM_BY_NV)
    (1, 40, 128, 2),
])
def test_key_kernel_equals_loop_over_time(B, T, C, H):
    gen = torch.Generator().manual_seed(B * T + C)
    u = torch.randn(B, T, C, generator=gen)
    lam = torch.rand(H, generator=gen) * 0.9 + 0.05
    alpha = torch.rand(H, generator=gen) * 3 + 0.5
    g = torch.randn(B, H, T, C // H, generator=gen)
    assert ck.feature_kernel_applies(u, H)

    def run(fn):
        ts = [t.clone().requires_grad_(True) for t in (u, lam, alpha)]
        k = fn(*ts)
        return (k.detach(), *torch.autograd.grad((k * g.to(k.dtype)).sum(), ts))

    got = run(lambda *ts: ck.feature_kernel(*ts, H, "key", reference.NORM_EPS))
    assert got[0].transpose(1, 2).is_contiguous()  # written (B, T, H, d): see _FeatureKernel
    for a, b in zip(got, run(lambda *ts: explicit_keys(*ts, H))):
        assert_close(a, b)


def explicit_values(u, lam, alpha, n_head):
    """Eq. 7's values in float64: α (u_t + λ u_{t+1}) / (‖·‖ + ε), look-ahead 0 at the end."""
    B, T, C = u.shape
    uh = u.double().view(B, T, n_head, -1).transpose(1, 2)  # (B, H, T, d)
    ahead = torch.cat([uh[:, :, 1:], torch.zeros_like(uh[:, :, :1])], dim=2)
    vbar = uh + lam.double()[:, None, None] * ahead
    return alpha.double()[:, None, None] * vbar / (vbar.norm(dim=-1, keepdim=True) + 1e-10)


@needs_kernel
@pytest.mark.parametrize("B,T,C,H", [(2, 37, 64, 2), (3, 50, 256, 8), (1, 1, 16, 2), (2, 300, 128, 1),
                                     (2, 20, 32, 2), (1, 40, 128, 2)])
def test_value_kernel_equals_plain_ops(B, T, C, H):
    gen = torch.Generator().manual_seed(B * T + C + 1)
    u = torch.randn(B, T, C, generator=gen)
    lam = torch.rand(H, generator=gen) * 3 + 0.3
    alpha = torch.rand(H, generator=gen) * 3 + 0.5
    g = torch.randn(B, H, T, C // H, generator=gen)

    def run(fn):
        ts = [t.clone().requires_grad_(True) for t in (u, lam, alpha)]
        v = fn(*ts)
        return (v.detach(), *torch.autograd.grad((v * g.to(v.dtype)).sum(), ts))

    got = run(lambda *ts: ck.feature_kernel(*ts, H, "value", reference.NORM_EPS))
    assert got[0].transpose(1, 2).is_contiguous()  # written (B, T, H, d): see _FeatureKernel
    for a, b in zip(got, run(lambda *ts: explicit_values(*ts, H))):
        assert_close(a, b)


@needs_kernel
@pytest.mark.parametrize("extractor", [KeyExtractor, ValueExtractor])
def test_extractors_same_with_kernel_and_pytorch_path(extractor, monkeypatch):
    torch.manual_seed(0)
    ex = extractor(64, 2, kernels=kernels.FAST_OPS)
    x = torch.randn(3, 20, 64)
    g = torch.randn(3, 2, 20, 32)

    def run():
        xs = x.clone().requires_grad_(True)
        k = ex(xs)
        return (k.detach(), *torch.autograd.grad((k * g).sum(), [xs, *ex.parameters()]))

    fast = run()
    monkeypatch.setattr(ck, "_lib", False)  # kernels off: chunked scan, fused Python normalisations
    assert not ck.feature_kernel_applies(x, 2)
    for a, b in zip(fast, run()):
        assert_close(a, b)



def test_key_kernel_not_taken_off_its_shapes():
    assert not ck.feature_kernel_applies(torch.randn(2, 4, 12), 2)  # d = 6
    assert not ck.feature_kernel_applies(torch.randn(2, 4, 16, dtype=torch.float64), 2)
