"""Peer architectures (mosaic/baselines/): size, causality, context limits, attention maps, the SSM scan,
trainability, sampling and the registry. Small CPU models, seeded; the file runs in seconds."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from mosaic import available_models, build_model
from mosaic.baselines.ssm import (
    _CausalDepthwiseConv,
    _DecayMatrix,
    causal_depthwise_conv,
    decay_matrix,
    ssd_scan,
    ssd_scan_sequential,
)
from mosaic.baselines.transformer import apply_rope, rope_cos_sin

VOCAB = 50
SMALL = dict(vocab_size=VOCAB, n_layer=2, n_head=4, n_embd=32, block_size=32, dropout=0.0)
CASES = {
    "transformer-absolute": ("transformer", dict(pos_encoding="absolute")),
    "transformer-rope": ("transformer", dict(pos_encoding="rope")),
    "transformer-alibi": ("transformer", dict(pos_encoding="alibi")),
    "lstm": ("lstm", {}),
    "gru": ("gru", {}),
    "ssm": ("ssm", dict(chunk=8)),  # T = 32 spans 4 chunks: the tests cross chunk boundaries
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny ops, no threads


def make(case: str, seed: int = 0, **overrides):
    name, extra = CASES[case]
    torch.manual_seed(seed)
    return build_model(name, **{**SMALL, **extra, **overrides}).eval()


def tokens(B: int, T: int, seed: int, vocab: int = VOCAB) -> torch.Tensor:
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


def test_registry_lists_the_baselines():
    assert {"transformer", "lstm", "gru", "ssm"} <= set(available_models())


def test_gpt2_small_parameter_count_on_meta():
    """GPT-2 small (nanoGPT, bias, tied embeddings, 1024 learned positions) has 124,439,808."""
    with torch.device("meta"):
        model = build_model(
            "transformer", n_layer=12, n_embd=768, n_head=12, block_size=1024, vocab_size=50257,
            pad_vocab_multiple=1, bias=True, pos_encoding="absolute",
        )
    assert all(p.is_meta for p in model.parameters())  # nothing was allocated
    assert model.num_params() == 124_439_808
    assert model.num_params(non_embedding=True) == 124_439_808 - 1024 * 768  # minus wpe only
    assert model.lm_head.weight is model.wte.weight


def test_gpt2_init_scales_residual_projections():
    torch.manual_seed(0)
    model = build_model("transformer", n_layer=8, n_embd=256, n_head=4, vocab_size=512)
    std_residual = model.blocks[0].mlp.c_proj.weight.std().item()
    std_other = model.blocks[0].mlp.c_fc.weight.std().item()
    assert std_other == pytest.approx(0.02, rel=0.05)
    assert std_residual == pytest.approx(0.02 / math.sqrt(2 * 8), rel=0.05)


@pytest.mark.parametrize("case", list(CASES))
def test_causal(case):
    """Changing tokens after position t leaves logits at positions <= t unchanged; changing an
    earlier token does change later logits (so the model does read its context)."""
    model = make(case)
    T = 32
    idx = tokens(3, T, seed=1)
    with torch.no_grad():
        base, _ = model(idx)
        assert base.shape == (3, T, VOCAB)
        for t in (0, 7, 20, T - 2):
            changed = idx.clone()
            changed[:, t + 1 :] = (changed[:, t + 1 :] + 1 + tokens(3, T - t - 1, seed=t)) % VOCAB
            logits, _ = model(changed)
            torch.testing.assert_close(logits[:, : t + 1], base[:, : t + 1], atol=1e-6, rtol=0)
        earlier = idx.clone()
        earlier[:, 3] = (earlier[:, 3] + 1) % VOCAB
        logits, _ = model(earlier)
        assert not torch.allclose(logits[:, 3:], base[:, 3:], atol=1e-6)
        torch.testing.assert_close(logits[:, :3], base[:, :3], atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", ["transformer-rope", "transformer-alibi", "lstm", "gru", "ssm"])
def test_runs_beyond_block_size(case):
    model = make(case, block_size=8)
    assert model.supports_longer_context
    logits, loss = model(tokens(2, 24, seed=2), tokens(2, 24, seed=3))
    assert logits.shape == (2, 24, VOCAB) and torch.isfinite(loss)


def test_absolute_positions_refuse_longer_sequences():
    model = make("transformer-absolute", block_size=8)
    assert not model.supports_longer_context
    model(tokens(2, 8, seed=2))  # exactly block_size is fine
    with pytest.raises(ValueError, match="block_size=8"):
        model(tokens(2, 24, seed=2))
    # generation crops the context to the last block_size tokens instead of failing
    out = model.generate(tokens(1, 6, seed=4), max_new_tokens=10, temperature=0)
    assert out.shape == (1, 16)


@pytest.mark.parametrize("case", ["transformer-absolute", "transformer-rope", "transformer-alibi"])
def test_attention_maps(case):
    model = make(case).train()  # attention_maps must switch to eval and back
    T = 12
    idx = tokens(3, T, seed=5)
    maps = model.attention_maps(idx)
    assert model.training
    assert maps.shape == (SMALL["n_layer"], SMALL["n_head"], T, T)
    torch.testing.assert_close(maps.sum(-1), torch.ones(SMALL["n_layer"], SMALL["n_head"], T))
    assert (maps.triu(diagonal=1) == 0).all()
    assert (maps >= 0).all()
    # the explicit-softmax path computes the same network as the fused SDPA path
    model.eval()
    with torch.no_grad():
        hidden_fused, _ = model._run(idx)
        hidden_explicit, _ = model._run(idx, return_probs=True)
    torch.testing.assert_close(hidden_explicit, hidden_fused, atol=1e-5, rtol=1e-5)


def test_alibi_maps_favour_recent_tokens_at_init():
    """With near-zero scores at init, ALiBi's distance penalty dominates: in the steepest head
    (slope 1/4 for 4 heads) the diagonal gets more weight than the first token."""
    maps = make("transformer-alibi").attention_maps(tokens(2, 16, seed=6))
    assert (maps[:, 0].diagonal(dim1=-2, dim2=-1)[:, 1:] > maps[:, 0, 1:, 0]).all()


def test_rope_scores_depend_only_on_relative_position():
    """The same query and key vectors placed at every position: after rotation their dot product
    depends on the distance i - j (and does vary with it), and norms are unchanged."""
    T, hd = 10, 8
    g = torch.Generator().manual_seed(0)
    q = torch.randn(hd, generator=g).expand(1, 1, T, hd)  # (B, H, T, hd)
    k = torch.randn(hd, generator=g).expand(1, 1, T, hd)
    cos, sin = rope_cos_sin(T, hd, base=10000.0, device=q.device)
    q_rot, k_rot = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    torch.testing.assert_close(q_rot.norm(dim=-1), q.norm(dim=-1))
    scores = (q_rot @ k_rot.transpose(-2, -1))[0, 0]  # (T, T)
    torch.testing.assert_close(scores[1:, 1:], scores[:-1, :-1], atol=1e-5, rtol=1e-5)
    assert scores[0].std() > 0.1  # not position-blind


@pytest.mark.parametrize("case", ["lstm", "gru", "ssm"])
def test_no_attention_maps(case):
    with pytest.raises(NotImplementedError):
        make(case).attention_maps(tokens(1, 4, seed=0))


def _scan_inputs(T, dtype, seed, dt_scale=0.5, a_scale=2.0):
    """SSD scan inputs: 2 sequences, 4 heads of 3 channels in 2 groups sharing B, C of size 5."""
    g = torch.Generator().manual_seed(seed)
    b, H, P, G, N = 2, 4, 3, 2, 5
    x = torch.randn(b, T, H, P, generator=g, dtype=dtype)
    dt = torch.rand(b, T, H, generator=g, dtype=dtype) * dt_scale
    A = -torch.rand(H, generator=g, dtype=dtype) * a_scale - 0.01
    B = torch.randn(b, T, G, N, generator=g, dtype=dtype)
    C = torch.randn(b, T, G, N, generator=g, dtype=dtype)
    return x, dt, A, B, C


@pytest.mark.parametrize("T", [1, 2, 7, 16, 37, 64, 300])
def test_ssd_scan_matches_recurrence(T):
    """The chunked scan equals the step-by-step recurrence for any length: shorter than a chunk,
    an exact multiple (16, 64) or not (7, 37, 300), one carry level (chunk 16) or three (chunk 4:
    300 -> 75 -> 19 -> 5 chunk ends)."""
    args = _scan_inputs(T, torch.float64, seed=T)
    reference = ssd_scan_sequential(*args)
    for chunk in (4, 16):
        torch.testing.assert_close(ssd_scan(*args, chunk=chunk), reference, atol=1e-10, rtol=0)
    args32 = [a.float() for a in args]
    torch.testing.assert_close(ssd_scan(*args32, chunk=16), ssd_scan_sequential(*args32), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("T", [7, 37])
def test_ssd_scan_gradients_match_recurrence(T):
    """Gradients through the chunked scan (hand-written decay-matrix backward included) equal
    those through the recurrence, for every input."""
    args = [a.requires_grad_() for a in _scan_inputs(T, torch.float64, seed=10 + T)]
    weights = torch.randn(args[0].shape, generator=torch.Generator().manual_seed(T), dtype=torch.float64)
    grads = torch.autograd.grad((ssd_scan(*args, chunk=4) * weights).sum(), args)
    expected = torch.autograd.grad((ssd_scan_sequential(*args) * weights).sum(), args)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)


def test_ssd_scan_is_safe_with_extreme_decays():
    """Steps of exp(-4000) and near-identity steps mixed: no inf/NaN in values or gradients, and
    still the recurrence's values (segment sums are never differences of large running totals)."""
    x, dt, A, B, C = _scan_inputs(50, torch.float32, seed=0, dt_scale=20.0, a_scale=200.0)
    dt[:, ::3] *= 1e-4  # near-identity steps between the crushing ones
    dt.requires_grad_(True)
    A.requires_grad_(True)
    y = ssd_scan(x, dt, A, B, C, chunk=8)
    y.square().sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(dt.grad).all() and torch.isfinite(A.grad).all()
    torch.testing.assert_close(y, ssd_scan_sequential(x, dt, A, B, C), atol=1e-4, rtol=1e-4)


def test_decay_matrix_values_and_gradient():
    a = -torch.rand(3, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    L = decay_matrix(a)
    t, s = 6, 2
    assert L[1, t, s].item() == pytest.approx(math.exp(a[1, s + 1 : t + 1].sum().item()), rel=1e-12)
    assert (L.triu(1) == 0).all() and (L.diagonal(dim1=-2, dim2=-1) == 1).all()
    assert torch.autograd.gradcheck(_DecayMatrix.apply, (a.requires_grad_(),))


@pytest.mark.parametrize("T", [1, 3, 10])
def test_causal_depthwise_conv_matches_conv1d(T):
    """The shifted-product convolution (hand-written backward) is nn.Conv1d with left padding."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 6, kernel_size=4, groups=6).double()
    x = torch.randn(2, T, 6, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.conv1d(
        torch.nn.functional.pad(x.transpose(1, 2), (3, 0)), conv.weight, conv.bias, groups=6
    ).transpose(1, 2)
    torch.testing.assert_close(causal_depthwise_conv(x, conv), expected, atol=1e-12, rtol=0)
    weight, bias = conv.weight[:, 0].detach().requires_grad_(), conv.bias.detach().requires_grad_()
    assert torch.autograd.gradcheck(_CausalDepthwiseConv.apply, (x, weight, bias))


def test_ssm_long_context_is_causal_and_chunk_independent():
    """On 300 tokens (many chunks, two carry levels for chunk 8) the logits do not depend on the
    chunk length, and the logits of a prefix are those of the prefix alone."""
    idx = tokens(2, 300, seed=11)
    with torch.no_grad():
        logits, _ = make("ssm", chunk=8)(idx)
        torch.testing.assert_close(make("ssm", chunk=64)(idx)[0], logits, atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(make("ssm", chunk=8)(idx[:, :131])[0], logits[:, :131], atol=2e-5, rtol=1e-5)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("case", list(CASES))
def test_overfits_one_batch(case):
    """80 Adam steps (lr 1e-2) on one batch of random tokens (B=4, T=16, vocab 32) bring the loss
    from ln 32 = 3.47 below 0.1. The batch's next-token-given-current-token entropy is > 0.5, so
    a network that ignored everything but the current token (or did not train) would fail."""
    x_y = tokens(4, 17, seed=1, vocab=32)
    x, y = x_y[:, :-1], x_y[:, 1:]
    pairs, current = Counter(zip(x.flatten().tolist(), y.flatten().tolist())), Counter(x.flatten().tolist())
    bigram_entropy = -sum(c * math.log(c / current[a]) for (a, _), c in pairs.items()) / x.numel()
    assert bigram_entropy > 0.5
    model = make(case, vocab_size=32, n_embd=64, block_size=16, pad_vocab_multiple=8).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


@pytest.mark.parametrize("case", list(CASES))
def test_padded_vocab_and_dropout(case):
    """Logits are cropped to vocab_size; dropout acts in train mode only."""
    model = make(case, dropout=0.3, pad_vocab_multiple=64)
    assert model.lm_head.weight.shape[0] == 64
    idx = tokens(2, 10, seed=7)
    with torch.no_grad():
        assert model(idx)[0].shape == (2, 10, VOCAB)
        torch.testing.assert_close(model(idx)[0], model(idx)[0])
        model.train()
        assert not torch.allclose(model(idx)[0], model(idx)[0])


@pytest.mark.parametrize("case", list(CASES))
def test_trains_under_cpu_bfloat16_autocast(case):
    model = make(case).train()
    idx = tokens(2, 12, seed=9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, loss = model(idx, idx)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("case", list(CASES))
def test_generate_is_deterministic_under_a_generator(case):
    model = make(case)
    prompt = tokens(2, 5, seed=8)

    def sample(seed):
        return model.generate(prompt, 12, temperature=1.0, generator=torch.Generator().manual_seed(seed))

    first = sample(0)
    assert first.shape == (2, 17) and torch.equal(first[:, :5], prompt)
    assert int(first.max()) < VOCAB
    assert torch.equal(sample(0), first)
    assert not torch.equal(sample(1), first)


@pytest.mark.parametrize("name", ["transformer", "lstm", "gru", "ssm"])
def test_build_model_rejects_unknown_keys(name):
    with pytest.raises(ValueError, match="n_hidden_units"):
        build_model(name, n_layer=1, n_hidden_units=3)


@pytest.mark.parametrize(
    "name, bad",
    [
        ("transformer", dict(pos_encoding="sinusoidal")),
        ("transformer", dict(n_embd=30, n_head=4)),
        ("transformer", dict(pos_encoding="rope", n_embd=12, n_head=4)),
        ("ssm", dict(d_state=0)),
        ("ssm", dict(headdim=100)),
        ("ssm", dict(n_groups=5)),
        ("ssm", dict(chunk=1)),
    ],
)
def test_build_model_rejects_bad_values(name, bad):
    key = next(iter(bad)) if len(bad) == 1 else "n_embd"
    with pytest.raises(ValueError, match=key):
        build_model(name, **bad)


def test_ssm_heads_come_from_headdim_not_n_head():
    """Mamba-2 heads: d_inner / headdim of them; the common n_head key is ignored."""
    model = make("ssm", n_embd=64, headdim=16)
    assert model.blocks[0].mixer.n_heads == 2 * 64 // 16
    assert model.blocks[0].mixer.A_log.shape == (8,)
    assert make("ssm", n_head=1).num_params() == make("ssm", n_head=7).num_params()
