"""Contract tests that every registered architecture must pass (ours, baselines, plug-ins)."""
import pytest
import torch

from mosaic import available_models, build_model, resolve_model
from mosaic.interface import IGNORE_INDEX

SMALL = dict(vocab_size=37, n_layer=2, n_head=2, n_embd=32, block_size=24, dropout=0.0)
PLUGIN = "tests.fixtures.plugin_models:BigramLM"
BUILTINS = ["mosaic", "transformer", "lstm", "gru", "ssm"]


def all_models():
    return available_models() + [PLUGIN]


def test_builtins_registered():
    assert set(BUILTINS) <= set(available_models())


@pytest.mark.parametrize("name", all_models())
def test_causality(name):
    """Changing tokens after position t leaves logits at positions <= t unchanged."""
    torch.manual_seed(0)
    model = build_model(name, **SMALL).eval()
    idx = torch.randint(0, 37, (2, 24))
    logits, _ = model(idx)
    assert logits.shape == (2, 24, 37)
    for t in (0, 5, 17):
        other = idx.clone()
        other[:, t + 1 :] = torch.randint(0, 37, other[:, t + 1 :].shape)
        logits_other, _ = model(other)
        torch.testing.assert_close(logits_other[:, : t + 1], logits[:, : t + 1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", all_models())
def test_overfits_one_batch(name):
    """Loss on one fixed batch falls below 0.5 nats within 200 Adam steps (from ~log 37 = 3.6)."""
    torch.manual_seed(0)
    model = build_model(name, **SMALL)
    idx = torch.randint(0, 37, (4, 24))
    x, y = idx[:, :-1], idx[:, 1:]
    lr = 1e-2
    if name == PLUGIN:  # a bigram table can only learn what the current token determines;
        y = (x * 7 + 3) % 37  # its logits are raw parameters, so it takes larger steps
        lr = 1e-1
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _step in range(200):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.5:
            break
    assert loss.item() < 0.5, f"{name}: loss {loss.item():.3f} after {_step + 1} steps"


@pytest.mark.parametrize("name", all_models())
def test_ignored_targets_and_generate_determinism(name):
    torch.manual_seed(0)
    model = build_model(name, **SMALL)
    idx = torch.randint(0, 37, (2, 10))
    targets = idx.clone()
    targets[:, :5] = IGNORE_INDEX
    logits, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits[:, 5:].reshape(-1, 37), idx[:, 5:].reshape(-1))
    torch.testing.assert_close(loss, expected)

    def sample(seed):
        g = torch.Generator().manual_seed(seed)
        return model.generate(idx, max_new_tokens=8, temperature=1.0, top_k=10, generator=g)

    out = sample(123)
    assert out.shape == (2, 18) and torch.equal(out[:, :10], idx)
    assert torch.equal(out, sample(123))
    assert int(out.max()) < 37  # padded vocabulary rows are never sampled


@pytest.mark.parametrize("name", all_models())
def test_num_params_counts_tied_weights_once(name):
    model = build_model(name, **SMALL)
    unique = {id(p): p.numel() for p in model.parameters()}
    assert model.num_params() == sum(unique.values()) > 0


def test_attention_maps_of_attention_models():
    idx = torch.randint(0, 37, (3, 12))
    for name in ("mosaic", "transformer"):
        maps = build_model(name, **SMALL).attention_maps(idx)
        assert maps.shape == (2, 2, 12, 12), name
    with pytest.raises(NotImplementedError):
        build_model("lstm", **SMALL).attention_maps(idx)


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match="n_embed"):
        build_model("mosaic", n_embed=32)


def test_invalid_value_is_named():
    with pytest.raises(ValueError, match="n_layer"):
        build_model("mosaic", n_layer=0)


def test_unknown_architecture_lists_registered():
    with pytest.raises(ValueError, match="unknown architecture 'mosiac'.*mosaic"):
        build_model("mosiac")


@pytest.mark.parametrize(
    "path, message",
    [
        ("tests.fixtures.plugin_models", "package.module:ClassName"),
        ("tests.no_such_module:Model", "cannot import plugin module"),
        ("tests.fixtures.plugin_models:Missing", "has no attribute 'Missing'"),
        ("tests.fixtures.plugin_models:NotAModel", "not a mosaic.interface.LanguageModel"),
    ],
)
def test_bad_plugin_paths(path, message):
    with pytest.raises((ValueError, TypeError), match=message):
        resolve_model(path)


def test_plugin_model_specific_key():
    model = build_model(PLUGIN, smoothing=0.1, **SMALL)
    assert model.config.smoothing == 0.1
