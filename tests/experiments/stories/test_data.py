"""Tests of the data layer (mosaic.experiments.stories): story generator, corpus sources, tokenizer, token files,
batches, Table 2 statistics, prompts and the OOD corpus. Offline: HF_HUB_OFFLINE=1 throughout."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from mosaic.experiments.stories import corpus, ood, stats, tokenizer, tokens
from mosaic.experiments.stories import generator as story_generator
from mosaic.experiments.stories.cli import main as cli
from mosaic.experiments.stories.corpus import DataSourceError

UNUSUAL_TEXTS = [
    "", " ", "   leading and trailing   ", "tabs\tand\nnewlines\n\n\nand  runs   of    spaces",
    "Café, naïve, façade, Ærøskøbing, São Paulo, Zürich", "emoji 🐱🚀👩‍👩‍👧 and 中文 and العربية",
    "<|endoftext|> is plain text here", "\r\n windows line ends \r\n", "quotes “curly” ‘single’ — dash…",
]


# ------------------------------------------------------------------------------ generator
def test_generator_is_deterministic_per_seed_and_prefix_stable():
    a = story_generator.generate_stories(40, seed=1)
    assert a == story_generator.generate_stories(40, seed=1)
    assert a[:15] == story_generator.generate_stories(15, seed=1)
    b = story_generator.generate_stories(40, seed=2)
    assert len(set(a) & set(b)) == 0
    assert story_generator.generate_stories(40, seed=1, split="val") != a


def test_generator_diversity_length_and_vocabulary():
    stories = story_generator.generate_stories(2000, seed=1234)
    n_words = [len(s.split()) for s in stories]
    assert min(n_words) >= story_generator.MIN_WORDS and max(n_words) <= story_generator.MAX_WORDS
    assert stats.distinct_story_rate(stories) >= 0.99
    # Measured 0.207 for seed 1234 (diversity falls with corpus size: 0.057 at 20k stories).
    assert stats.four_gram_diversity(stories) > 0.15
    vocab = {w for s in stories for w in stats.words(s)}
    assert 300 <= len(vocab) <= 2000, len(vocab)
    assert not any("{" in s or "}" in s or "  " in s or " ." in s for s in stories)
    assert len(story_generator.plots.PLOTS) >= 6


def test_stories_track_their_characters():
    """The hero is named in the first sentence and comes back in the last paragraph."""
    checked = 0
    for story in story_generator.generate_stories(300, seed=5):
        first = story.split(".")[0]
        m = re.search(r"(?:named|called) ([A-Z][a-z]+)", first) or re.match(r"([A-Z][a-z]+) was", first)
        assert m, first
        hero = m.group(1)
        assert hero in story.split("\n\n")[-1], (hero, story)
        assert story.count(hero) >= 4
        # pronouns follow the hero: the sentence after the introduction says "She" for a girl's name
        second = story.split(". ")[1]
        if second.split()[0] in ("He", "She"):
            checked += 1
            assert second.split()[0] == ("She" if hero in story_generator.GIRL_NAMES else "He"), story
    assert checked > 50


def test_train_and_val_are_disjoint():
    train, val, replaced = story_generator.generate_splits(400, 100, seed=3)
    assert len(train) == 400 and len(val) == 100 and replaced == 0
    assert not set(train) & set(val)
    splits = corpus.load_story_splits({"n_train_stories": 50, "n_val_stories": 20, "seed": 3})
    assert splits["train"] == train[:50] and splits["info"]["val_stories_also_in_train"] == 0


def test_data_config_is_checked():
    with pytest.raises(DataSourceError, match="unknown key data.n_trian"):
        corpus.normalize_data_config({"n_trian": 5})
    with pytest.raises(DataSourceError, match="n_train_stories is required"):
        corpus.normalize_data_config({"n_val_stories": 5})
    with pytest.raises(DataSourceError, match="txt_mode"):
        corpus.normalize_data_config({"source": "files", "files": {"txt_mode": "words"}})


# ------------------------------------------------------------------------------ tokenizer
def test_offline_cache_is_seeded_under_tiktokens_names(tmp_path):
    import tiktoken_ext.openai_public as openai_public
    import inspect

    source = inspect.getsource(openai_public.gpt2)
    urls = tokenizer.gpt2_file_urls()
    assert set(urls) == {"vocab.bpe", "encoder.json"} and all(u in source for u in urls.values())
    tokenizer.seed_tiktoken_cache(tmp_path)
    for url in urls.values():
        data = (tmp_path / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
        assert hashlib.sha256(data).hexdigest() in source  # the hash tiktoken checks


def test_full_gpt2_tokenizer_round_trip():
    tok = tokenizer.Tokenizer()
    assert tok.vocab_size == 50257 and tok.eot_id == 50256 and tok.unk_id is None
    assert tok.encode("Once upon a time") == [7454, 2402, 257, 640]
    assert tok.eot_id not in tok.encode("<|endoftext|>")  # encode_ordinary: special tokens are text
    for text in UNUSUAL_TEXTS:
        assert tok.decode(tok.encode(text)) == text
    assert tok.decode([tok.eot_id]) == "<|endoftext|>"
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([50257])


def test_compact_tokenizer_round_trip_and_unknown_ids():
    full = tokenizer.Tokenizer()
    train_ids = np.array([i for t in UNUSUAL_TEXTS for i in full.encode(t)] + [full.eot_id])
    tok = tokenizer.Tokenizer.from_training_ids(train_ids)
    assert tok.vocab_size == np.unique(train_ids).size + 1 and tok.unk_id == tok.vocab_size - 1
    assert tok.decode([tok.eot_id]) == "<|endoftext|>"
    for text in UNUSUAL_TEXTS:
        ids = tok.encode(text)
        assert max(ids, default=0) < tok.unk_id
        assert tok.decode(ids) == text
    ids = tok.encode("Café zebra")  # "zebra" was never seen
    assert tok.unk_id in ids and tok.decode(ids).startswith("Café") and "<unk>" in tok.decode(ids)
    gpt2 = np.array(full.encode(UNUSUAL_TEXTS[4]))
    assert np.array_equal(tok.to_gpt2(tok.from_gpt2(gpt2)), gpt2)


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
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("stories")
    tokens.prepare_story_data({"n_train_stories": 60, "n_val_stories": 10, "seed": 11}, out)
    return out


def test_prepared_directory_is_complete_and_faithful(data_dir):
    meta = tokens.read_meta(data_dir)
    tok = tokenizer.load_tokenizer(data_dir)
    assert meta["tokenizer"]["vocab_size"] == tok.vocab_size < 2000 and tok.compact
    train, val, _ = story_generator.generate_splits(60, 10, seed=11)
    for split, stories in (("train", train), ("val", val)):
        entry = meta["splits"][split]
        raw = (data_dir / entry["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        ids = np.frombuffer(raw, dtype=np.uint16)
        assert len(ids) == entry["n_tokens"] and entry["n_stories"] == len(stories)
        assert (ids == tok.eot_id).sum() == len(stories) and ids[-1] == tok.eot_id
        assert entry["unk_tokens"] == (ids == tok.unk_id).sum()
        first = ids[: int(np.argmax(ids == tok.eot_id))]
        if split == "train":
            assert tok.decode(first.tolist()) == stories[0]
        expected = np.array(tokenizer.Tokenizer().encode(stories[0]))  # val: unknown ids -> -1
        got = tok.to_gpt2(first)
        assert np.array_equal(got[got >= 0], expected[got >= 0]) and len(got) == len(expected)
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


def test_compact_vocab_maps_unseen_val_tokens_to_unknown(tmp_path):
    (tmp_path / "train.txt").write_text("The cat sat.\n\nThe dog sat.\n", encoding="utf-8")
    (tmp_path / "val.txt").write_text("The zebra sat.\n", encoding="utf-8")
    cfg = {"source": "files", "files": {"train": str(tmp_path / "train.txt"), "val": str(tmp_path / "val.txt")}}
    meta = tokens.prepare_story_data(cfg, tmp_path / "data")
    tok = tokenizer.load_tokenizer(tmp_path / "data")
    val = np.fromfile(tmp_path / "data" / "val.bin", dtype=np.uint16)
    assert meta["splits"]["val"]["unk_tokens"] == (val == tok.unk_id).sum() >= 1
    assert re.fullmatch(r"The(<unk>)+ sat\.<\|endoftext\|>", tok.decode(val.tolist()))
    full = tokens.prepare_story_data({**cfg, "compact_vocab": False}, tmp_path / "full")
    assert full["tokenizer"]["vocab_size"] == 50257 and full["splits"]["val"]["unk_tokens"] == 0


def test_cli_errors_leave_no_meta(tmp_path, capsys):
    cfg = json.dumps({"source": "files", "files": {"train": str(tmp_path / "nope.txt"), "val": "x.txt"}})
    assert cli(["prepare", "--config-json", cfg, "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope.txt" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "d" / "meta.json").exists()


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


def test_table2_cli_writes_csv_and_md(data_dir, tmp_path):
    out = tmp_path / "tables" / "table2_corpus_stats"
    assert cli(["table2", "--data", str(data_dir), "--out", str(out)]) == 0
    df = pd.read_csv(out.with_suffix(".csv"))
    assert list(df["split"]) == ["train", "val"] and list(df.columns) == stats.TABLE2_COLUMNS
    assert out.with_suffix(".md").read_text().startswith("| corpus | split |")
    expected = stats.corpus_stats(dict(zip(("train", "val"), story_generator.generate_splits(60, 10, 11)[:2])),
                                  tokenizer.load_tokenizer(data_dir))
    assert df["tokens"].tolist() == expected["tokens"].tolist()
    assert df["four_gram_diversity"].tolist() == pytest.approx(expected["four_gram_diversity"].tolist())


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
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="no prompts.*empty.txt"):
        corpus.load_prompts(tmp_path / "empty.txt")


def test_ood_embedded_corpus_is_prose_and_tokenised_like_the_stories(data_dir, tmp_path):
    texts = ood.load_ood_texts({"source": "embedded"})
    lines = [line for t in texts for line in t.splitlines() if line.strip()]
    assert len(texts) >= 50 and sum(len(t.split()) for t in texts) > 20_000
    assert sum(line.lstrip().startswith(">>>") for line in lines) <= 0.01 * len(lines)
    assert not any("::=" in t or "\n   " in t for t in texts)
    meta = ood.prepare_ood({"max_texts": 10}, data_dir, tmp_path / "ood")
    entry = meta["splits"]["ood"]
    assert entry["n_stories"] == 10 and 0 < entry["unk_rate"] < 1
    assert tokenizer.load_tokenizer(tmp_path / "ood").vocab_size == tokenizer.load_tokenizer(data_dir).vocab_size
    ds = tokens.TokenDataset(tmp_path / "ood", "ood")
    assert len(ds) == entry["n_tokens"] and meta["doc_starts"][0] == 0
    assert (ds.tokens == tokenizer.load_tokenizer(data_dir).unk_id).sum() == entry["unk_tokens"]
