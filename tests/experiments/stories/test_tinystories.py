"""The real-text overlay (config/tinystories.yaml) end to end, offline: TinyStories and Simple English
Wikipedia are replaced by small local dataset directories laid out like their hub repositories
(README.md with the `configs` metadata, Parquet shards), read through the same code path
(``datasets.load_dataset(<repo>, <config>, split=..., streaming=True)``), with HF_HUB_OFFLINE=1."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosaic.experiments.stories import corpus, tokenizer, tokens
from mosaic.experiments.stories.cli import main as cli
from mosaic.experiments.stories.corpus import DataSourceError

REPO = Path(__file__).resolve().parents[3]
OVERLAY = ["--config", str(REPO / "config" / "config.yaml"), "--config", str(REPO / "config" / "tinystories.yaml")]

TINYSTORIES_README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: validation
    path: data/validation-*
---
# TinyStories (a local stand-in laid out like the hub repository)
"""
WIKIPEDIA_README = """---
configs:
- config_name: 20231101.en
  data_files:
  - split: train
    path: 20231101.en/train-*
- config_name: 20231101.simple
  data_files:
  - split: train
    path: 20231101.simple/train-*
---
# Wikipedia (a local stand-in laid out like the hub repository)
"""


def _story(i: int) -> str:
    animals = ["cat", "dog", "bird", "frog", "bunny", "duck"]
    return (f"Once upon a time, there was a little {animals[i % 6]} named Pip{i}. It liked to play in the park. "
            f"One day, Pip{i} found a {['red', 'blue', 'big'][i % 3]} ball. \"Can I keep it?\" it asked. "
            "Mom said yes, and they were happy.")


def _page(i: int) -> str:
    return (f"Article {i} is about a town in Europe. The town has a population of about {1000 + 37 * i} people. "
            "Its economy relies on agriculture, photosynthesis research and quantum electrodynamics.\n\n"
            f"History\n\nThe municipality was first mentioned in {1100 + i}.")


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory) -> Path:
    """Local copies of the two hub repositories: 2 train shards + validation, and 2 Wikipedia configs."""
    root = tmp_path_factory.mktemp("hub")
    ts = root / "roneneldan" / "TinyStories"
    (ts / "data").mkdir(parents=True)
    (ts / "README.md").write_text(TINYSTORIES_README, encoding="utf-8")
    (ts / "TinyStories-train.txt").write_text("not read: the configs point at data/\n", encoding="utf-8")
    train = [_story(i) for i in range(40)]
    train[5] = "   "  # an empty row, dropped
    pd.DataFrame({"text": train[:25]}).to_parquet(ts / "data" / "train-00000-of-00002.parquet")
    pd.DataFrame({"text": train[25:]}).to_parquet(ts / "data" / "train-00001-of-00002.parquet")
    pd.DataFrame({"text": [_story(100 + i) for i in range(8)]}).to_parquet(
        ts / "data" / "validation-00000-of-00001.parquet")
    wiki = root / "wikimedia" / "wikipedia"
    for config, n in (("20231101.simple", 12), ("20231101.en", 3)):
        (wiki / config).mkdir(parents=True)
        pages = [_page(i) if config.endswith("simple") else "English page." for i in range(n)]
        pd.DataFrame({"id": [str(i) for i in range(n)], "url": [f"https://x/{i}" for i in range(n)],
                      "title": [f"T{i}" for i in range(n)], "text": pages}).to_parquet(
            wiki / config / "train-00000-of-00001.parquet")
    (wiki / "README.md").write_text(WIKIPEDIA_README, encoding="utf-8")
    return root


@pytest.fixture
def local_hub(hub_root, monkeypatch, tmp_path):
    """datasets.load_dataset serving the hub ids from the local copies; records each call."""
    import datasets

    real = datasets.load_dataset
    calls = []

    def load_dataset(path, name=None, split=None, streaming=False, **kwargs):
        calls.append((path, name, split, streaming))
        if not (hub_root / path).is_dir():
            raise ConnectionError(f"Couldn't reach '{path}' on the Hub (OfflineModeIsEnabled)")
        return real(str(hub_root / path), name, split=split, streaming=streaming, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setenv(corpus.HUB_CACHE_ENV, str(tmp_path / "hub-cache"))
    return calls


def _offline_hub(monkeypatch):
    import datasets

    def unreachable(path, *args, **kwargs):
        raise ConnectionError(f"Couldn't reach '{path}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_overlay_prepares_tinystories_and_wikipedia_offline_and_reuses_the_cache(tmp_path, local_hub, monkeypatch,
                                                                                  capsys):
    data, ood_dir = tmp_path / "data", tmp_path / "ood"
    assert cli(["prepare", *OVERLAY, "--out", str(data)]) == 0
    assert cli(["prepare-ood", *OVERLAY, "--data", str(data), "--out", str(ood_dir)]) == 0
    # the hub ids and configs of the overlay, streamed; the Wikipedia pages read once per step
    assert ("roneneldan/TinyStories", None, "train", True) in local_hub
    assert ("roneneldan/TinyStories", None, "validation", True) in local_hub
    assert ("wikimedia/wikipedia", "20231101.simple", "train", True) in local_hub
    assert all(streaming for *_, streaming in local_hub)
    meta = tokens.read_meta(data)
    assert meta["corpus"] == "TinyStories" and meta["splits"]["train"]["n_stories"] == 39  # 40 rows, one empty
    tok = tokenizer.load_tokenizer(data)
    train = np.fromfile(data / "train.bin", dtype=np.uint16)
    expected = [_story(i) for i in range(40) if i != 5]  # shard order kept
    assert tok.decode(train.tolist()) == "".join(s + "<|endoftext|>" for s in expected)
    # Fig. 10's text: every Wikipedia token has an id of its own; the rate of ids unseen in training
    ood_meta = tokens.read_meta(ood_dir)
    entry = ood_meta["splits"]["ood"]
    ood_ids = np.fromfile(ood_dir / "ood.bin", dtype=np.uint16)
    pages = [_page(i) for i in range(12)]
    assert tok.decode(ood_ids.tolist()) == "".join(p + "<|endoftext|>" for p in pages)
    assert ood_meta["corpus"] == "wikimedia/wikipedia 20231101.simple" and entry["n_stories"] == 12
    assert entry["unseen_in_train_tokens"] == (ood_ids >= tok.n_train_ids).sum() > 0
    assert 0 < entry["unseen_in_train_rate"] < 1
    assert meta["vocabulary"]["sources"][2]["config"] == ood_meta["config"]
    # what was taken is cached: <cache>/<id>/<config>/<split>-<column>-<n>.jsonl
    cache = tmp_path / "hub-cache"
    train_cache = cache / "roneneldan" / "TinyStories" / "default" / "train-text-20000.jsonl"
    assert [json.loads(line)["text"] for line in train_cache.read_text(encoding="utf-8").splitlines()] == expected
    assert (cache / "roneneldan" / "TinyStories" / "default" / "validation-text-500.jsonl").is_file()
    assert (cache / "wikimedia" / "wikipedia" / "20231101.simple" / "train-text-1000.jsonl").is_file()
    capsys.readouterr()

    # a rerun with the hub unreachable reads the cache and writes the same files
    _offline_hub(monkeypatch)
    assert cli(["prepare", *OVERLAY, "--out", str(tmp_path / "data2")]) == 0
    assert cli(["prepare-ood", *OVERLAY, "--data", str(tmp_path / "data2"), "--out", str(tmp_path / "ood2")]) == 0
    assert "texts read from the cache" in capsys.readouterr().err
    for name in ("train.bin", "val.bin", "vocab.json"):
        assert _sha(tmp_path / "data2" / name) == _sha(data / name)
    assert _sha(tmp_path / "ood2" / "ood.bin") == _sha(ood_dir / "ood.bin")
    # a smaller take reuses the larger cached one
    assert corpus.load_hub_texts("roneneldan/TinyStories", None, "train", "text", 3, streaming=True) == expected[:3]
    # Table 2 of the real-text run
    assert cli(["table2", "--data", str(data), "--out", str(tmp_path / "table2")]) == 0
    table = pd.read_csv(tmp_path / "table2.csv")
    assert table["corpus"].tolist() == ["TinyStories"] * 3
    assert table["split"].tolist() == ["train", "val", "train, first 39"]  # all 39: fewer than 2,316
    assert (table["word_types"] > 0).all() and table["distinct_sentence_rate"].between(0, 1).all()


def test_hub_unreachable_without_cache_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(corpus.HUB_CACHE_ENV, str(tmp_path / "empty-cache"))
    _offline_hub(monkeypatch)
    assert cli(["prepare", *OVERLAY, "--out", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    line = lines[0]
    for needle in ("roneneldan/TinyStories", "no network", "HF_HUB_OFFLINE=1",
                   str(tmp_path / "empty-cache" / "roneneldan" / "TinyStories" / "default"),
                   "run once with network access", "source: files"):
        assert needle in line, needle
    assert not (tmp_path / "data").exists()


def test_damaged_cache_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(corpus.HUB_CACHE_ENV, str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "roneneldan" / "TinyStories" / "default"
    folder.mkdir(parents=True)
    (folder / "train-text-10.jsonl").write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    _offline_hub(monkeypatch)
    with pytest.raises(DataSourceError, match=r"hub cache file .*train-text-10.jsonl is damaged \(line 2.*delete it"):
        corpus.load_hub_texts("roneneldan/TinyStories", None, "train", "text", 5, streaming=True)


def test_overlay_only_changes_the_data():
    from mosaic.harness.config import load_config, read_yaml

    overlay = read_yaml(REPO / "config" / "tinystories.yaml")
    assert set(overlay) == {"stories", "analyses"}
    assert set(overlay["stories"]) == {"data"} and set(overlay["analyses"]) == {"ood"}
    merged = load_config(REPO / "config" / "config.yaml", REPO / "config" / "tinystories.yaml")
    corpus.normalize_data_config(merged["stories"]["data"])  # every key known
    from mosaic.experiments.stories.ood import normalize_ood_config

    ood = normalize_ood_config(merged["analyses"]["ood"])
    windows, block = merged["analyses"]["position_loss"]["windows"], merged["stories"]["model"]["block_size"]
    assert ood["max_tokens"] >= windows * (block + 1)  # Fig. 10 is not cut short
