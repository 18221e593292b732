"""One batch layout (nn/token_table.py) for prediction, the spaCy layer and pretraining."""
import numpy
import torch

from spacy_elmo.nn.lexicon import BOS_KEY, EOS_KEY, ByteLexicon
from spacy_elmo.nn.token_table import gather_rows, token_table
from spacy_elmo.pretrain.batch import TokenIds, encode_sentences, encode_windows
from spacy_elmo.pretrain.vocab import Vocab


def test_distinct_tokens_in_first_occurrence_order_ids_from_one():
    tokens, ids = token_table([["a", "b", "a"], ["c"], []])
    assert tokens == ["a", "b", "c"]
    assert ids.dtype == numpy.int64
    assert ids.tolist() == [[1, 2, 1], [3, 0, 0], [0, 0, 0]]
    tokens, ids = token_table([])
    assert tokens == [] and ids.shape == (0, 0)


def test_gather_rows_reads_id_zero_as_a_zero_vector():
    vectors = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    got = gather_rows(vectors, torch.tensor([[2, 1, 0]]))
    assert got.tolist() == [[[3.0, 4.0], [1.0, 2.0], [0.0, 0.0]]]


def test_pretraining_batches_use_the_same_ids():
    """Sentence batches (padded) and window batches (not) index the char-id table as
    token_table does; the table holds the char ids of exactly those tokens."""
    chars = TokenIds(ByteLexicon(50))
    vocab = Vocab(["a", "b"])
    batch = encode_sentences([["a", "b"], ["b"]], vocab, chars)
    tokens, ids = token_table([["<S>", "a", "b", "</S>"], ["<S>", "b", "</S>"]])
    assert batch.index.tolist() == ids.tolist()
    lexicon = ByteLexicon(50)
    keys = [{"<S>": BOS_KEY, "</S>": EOS_KEY}.get(t, t) for t in tokens]
    numpy.testing.assert_array_equal(batch.char_ids.numpy(), lexicon.ids(keys))
    windows = encode_windows([["<S>", "a", "b"]], [["</S>", "b", "a"]], vocab, chars)
    _, ids = token_table([["<S>", "a"], ["</S>", "b"]])
    assert windows.index.tolist() == ids.reshape(2, 1, 2).transpose(0, 2, 1).tolist()
