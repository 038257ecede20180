"""Incremental decoding (the cache protocol of mosaic.interface) against full recompute.

For every built-in model, ``prefill`` + ``decode_step`` must give the logits that ``forward`` gives
on the growing sequence, and ``generate`` the same tokens with and without the cache.
"""
import pytest
import torch

from mosaic import build_model
from mosaic.interface import LanguageModel
from tests.fixtures.plugin_models import BigramConfig, BigramLM

V = 41  # padded to 64 rows: the padded logits must stay out of the cached path too
SMALL = dict(vocab_size=V, n_layer=2, n_head=4, n_embd=32, block_size=12, dropout=0.1)
CASES = {
    "mosaic": ("mosaic", {}),
    "transformer-absolute": ("transformer", {"pos_encoding": "absolute"}),
    "transformer-rope": ("transformer", {"pos_encoding": "rope"}),
    "transformer-alibi": ("transformer", {"pos_encoding": "alibi"}),
    "lstm": ("lstm", {}),
    "gru": ("gru", {}),
    "ssm": ("ssm", {"chunk": 4}),  # a small chunk so prompts span several chunks of the scan
}
NEW_TOKENS = 16  # > block_size: the absolute-position window slides during decoding


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny ops, no threads


def make(case: str, dtype=torch.float32) -> LanguageModel:
    name, extra = CASES[case]
    torch.manual_seed(0)
    return build_model(name, **SMALL, **extra).to(dtype).eval()


def recompute_last_logits(model: LanguageModel, seq: torch.Tensor) -> torch.Tensor:
    if not model.supports_longer_context:
        seq = seq[:, -model.config.block_size :]
    return model(seq)[0][:, -1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("prompt_len", [1, 5, 70])
@pytest.mark.parametrize("case", CASES)
def test_cached_logits_equal_recompute(case, prompt_len, dtype):
    """Teacher-forced: at every step the cached logits equal forward() on the whole sequence."""
    model = make(case, dtype)
    gen = torch.Generator().manual_seed(1)
    seq = torch.randint(0, V, (3, prompt_len), generator=gen)
    tokens = torch.randint(0, V, (3, NEW_TOKENS), generator=gen)
    with torch.no_grad():
        logits, cache = model.prefill(seq)
        for t in range(NEW_TOKENS):
            assert logits.shape == (3, V)
            torch.testing.assert_close(logits, recompute_last_logits(model, seq), rtol=1e-5, atol=1e-5)
            seq = torch.cat([seq, tokens[:, t : t + 1]], dim=1)
            logits, cache = model.decode_step(tokens[:, t : t + 1], cache)
        torch.testing.assert_close(logits, recompute_last_logits(model, seq), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sampling", [dict(temperature=0.0), dict(temperature=1.0), dict(temperature=0.8, top_k=5)])
@pytest.mark.parametrize("prompt_len", [1, 6])
@pytest.mark.parametrize("case", CASES)
def test_generate_cached_equals_recompute(case, prompt_len, sampling):
    model = make(case).train()  # generate must switch to eval (dropout off) and back
    prompt = torch.randint(0, V, (3, prompt_len), generator=torch.Generator().manual_seed(2))
    out = {}
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(3)
        out[use_cache] = model.generate(prompt, NEW_TOKENS, generator=gen, use_cache=use_cache, **sampling)
    assert model.training
    assert out[True].shape == (3, prompt_len + NEW_TOKENS)
    assert torch.equal(out[True][:, :prompt_len], prompt)
    assert torch.equal(out[True], out[False])
    assert int(out[True].max()) < V  # padded vocabulary rows are never sampled


@pytest.mark.parametrize("case", CASES)
def test_builtins_implement_the_cache_protocol(case):
    assert make(case).supports_cache()


def test_absolute_positions_prompt_longer_than_block_size():
    """A prompt past block_size starts in the sliding window: recompute from the first step."""
    model = make("transformer-absolute")
    prompt = torch.randint(0, V, (2, 20), generator=torch.Generator().manual_seed(4))
    cached = model.generate(prompt, 5, temperature=0.0)
    assert torch.equal(cached, model.generate(prompt, 5, temperature=0.0, use_cache=False))


def test_mosaic_step_completes_the_previous_value():
    """Eq. 7's look-ahead: after one step the cache holds v_{T-1} mixed with W_ψ x_T, which is
    the value a full pass over the longer sequence computes for position T-1."""
    model = make("mosaic", torch.float64)
    idx = torch.randint(0, V, (2, 7), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        _, cache = model.prefill(idx[:, :6])
        _, cache = model.decode_step(idx[:, 6:], cache)
        layer = model.blocks[0].contextual
        full_values = layer.value(model.blocks[0].ln_1(model.wte(idx)))  # (B, H, 7, d)
    contextual = cache[0]
    assert contextual["values"].shape[2] == 6 and contextual["keys"].shape[2] == 7
    torch.testing.assert_close(contextual["values"], full_values[:, :, :6], rtol=0, atol=1e-12)


class CountingBigram(BigramLM):
    """A plug-in without the cache protocol that records how it is called."""

    calls: list

    def forward(self, idx, targets=None):
        self.calls.append(idx.size(1))
        return super().forward(idx, targets)


def test_plugin_without_protocol_falls_back_to_recompute():
    torch.manual_seed(0)
    model = CountingBigram(BigramConfig(vocab_size=V, block_size=8))
    torch.nn.init.normal_(model.table.weight)
    assert not model.supports_cache()
    with pytest.raises(NotImplementedError):
        model.prefill(torch.zeros(1, 1, dtype=torch.long))
    prompt = torch.randint(0, V, (2, 3))
    model.calls = []
    cached = model.generate(prompt, 4, generator=torch.Generator().manual_seed(6))
    assert model.calls == [3, 4, 5, 6]  # one full forward per new token
    recomputed = model.generate(prompt, 4, generator=torch.Generator().manual_seed(6), use_cache=False)
    assert torch.equal(cached, recomputed)


def test_contextual_cache_grows_in_place_and_keeps_branches_apart():
    """The decoding cache appends into a buffer with room (no copy per token), and two
    continuations of one cache do not overwrite each other's positions."""
    from mosaic.model.decoding import appended

    seq = torch.arange(6.0).view(1, 1, 3, 2)
    a, store = appended(seq, None, torch.full((1, 1, 1, 2), 7.0))
    b, store_b = appended(a, store, torch.full((1, 1, 1, 2), 8.0))
    assert b.data_ptr() == a.data_ptr()  # written in place: same buffer
    c, _ = appended(a, store, torch.full((1, 1, 1, 2), 9.0))  # a second continuation of `a`
    assert c.data_ptr() != a.data_ptr()
    assert b[0, 0, :, 0].tolist() == [0.0, 2.0, 4.0, 7.0, 8.0]
    assert c[0, 0, :, 0].tolist() == [0.0, 2.0, 4.0, 7.0, 9.0]
    for _ in range(200):  # past the first capacity: the buffer grows, the values stay
        b, store_b = appended(b, store_b, torch.ones(1, 1, 1, 2))
    assert b.shape[2] == 205 and b[0, 0, :5, 0].tolist() == [0.0, 2.0, 4.0, 7.0, 8.0]


def test_two_continuations_of_one_mosaic_cache_equal_recompute():
    torch.manual_seed(0)
    model = build_model("mosaic", vocab_size=32, n_layer=1, n_head=2, n_embd=16, block_size=16).eval()
    prompt = torch.randint(0, 32, (1, 5))
    with torch.no_grad():
        _, cache = model.prefill(prompt)
        _, cache = model.decode_step(torch.tensor([[4]]), cache)  # the cache now lives in buffers
        _, after_3 = model.decode_step(torch.tensor([[3]]), cache)
        _, after_11 = model.decode_step(torch.tensor([[11]]), cache)  # a second continuation
        for branch, cached in ((3, after_3), (11, after_11)):  # each still holds its own positions
            logits, _ = model.decode_step(torch.tensor([[5]]), cached)
            full, _ = model(torch.cat([prompt, torch.tensor([[4, branch, 5]])], dim=1))
            torch.testing.assert_close(logits, full[:, -1, :32], rtol=1e-5, atol=1e-5)
