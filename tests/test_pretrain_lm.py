"""The LM training head: log-uniform sampler, sampled and full softmax, stream wiring."""
import math

import numpy
import pytest
import torch

from spacy_elmo import BiLM
from spacy_elmo.nn.chars import sentences_to_char_ids
from spacy_elmo.nn.lexicon import BOS_KEY, EOS_KEY, ByteLexicon
from spacy_elmo.pretrain import lm as lm_module
from spacy_elmo.pretrain.batch import IGNORE, TokenIds, encode_sentences, encode_windows
from spacy_elmo.pretrain.lm import (
    LanguageModel, Sample, SoftmaxHead, log_uniform_probability, sample_log_uniform,
)
from spacy_elmo.pretrain.vocab import Vocab


def test_log_uniform_probabilities_sum_to_one():
    assert log_uniform_probability(numpy.arange(1000), 1000).sum() == pytest.approx(1.0)


def test_sampler_draws_distinct_ids_favouring_frequent_ones():
    sample = sample_log_uniform(numpy.random.default_rng(0), 200, 1000)
    assert len(set(sample.ids.tolist())) == 200 and sample.ids.max() < 1000
    assert sample.tries >= 200
    assert numpy.isin(numpy.arange(10), sample.ids).all()  # the most probable are always in


def test_expected_count_of_sampling_without_replacement():
    sample = Sample(numpy.array([0, 5]), tries=10)
    p = log_uniform_probability(numpy.array([0, 5]), 100)
    assert sample.expected_counts(sample.ids, 100) == pytest.approx(1 - (1 - p) ** 10, rel=1e-6)


def test_sampled_softmax_by_hand():
    torch.manual_seed(0)
    head = SoftmaxHead(50, 4)
    h, targets = torch.randn(3, 4), torch.tensor([1, 7, 3])
    sample = Sample(numpy.array([3, 10, 20]), tries=5)
    got = head.sampled_nll(h, targets, sample).detach()
    head.requires_grad_(False)
    for i in range(3):
        t = int(targets[i])
        logits = [float(h[i] @ head.weight[t] + head.bias[t])
                  - math.log(float(sample.expected_counts(numpy.array([t]), 50)[0]))]
        for c in sample.ids:
            if c == t:  # an accidental hit is removed
                continue
            q = float(sample.expected_counts(numpy.array([c]), 50)[0])
            logits.append(float(h[i] @ head.weight[c] + head.bias[c]) - math.log(q))
        expected = -(logits[0] - math.log(sum(math.exp(x) for x in logits)))
        assert float(got[i]) == pytest.approx(expected, rel=1e-5)


def test_full_softmax_in_chunks_is_exact(monkeypatch):
    torch.manual_seed(0)
    head = SoftmaxHead(30, 4)
    h, targets = torch.randn(10, 4), torch.randint(0, 30, (10,))
    expected = torch.nn.functional.cross_entropy(h @ head.weight.T + head.bias, targets, reduction="none")
    monkeypatch.setattr(lm_module, "FULL_SOFTMAX_CELLS", 60)  # 2 rows at a time
    assert torch.allclose(head.full_nll(h, targets), expected, atol=1e-6)


@pytest.fixture
def tiny_lm(tiny_options):
    torch.manual_seed(0)
    return LanguageModel(BiLM(tiny_options), vocab_size=8).eval()


def test_window_streams_run_as_the_bilm_reads_a_sentence(tiny_lm):
    """A window holding one whole sentence, from the zero state, gives the biLM's
    forward outputs; the backward stream (the sentence reversed) its backward outputs."""
    words = ["a", "b", "c"]
    forward = [["<S>"] + words + ["</S>", "<S>"]]
    backward = [["</S>"] + words[::-1] + ["<S>", "</S>"]]
    batch = encode_windows(forward, backward, Vocab(words), TokenIds(ByteLexicon(50)))
    top, targets, _ = tiny_lm._windows(batch, tiny_lm.bilm.default_state(1))
    layers, _, _ = tiny_lm.bilm(torch.from_numpy(sentences_to_char_ids([words])))
    P = tiny_lm.bilm.options.projection_dim
    assert torch.allclose(top[0], layers[-1, 0, :, :P], atol=1e-6)
    assert torch.allclose(top[1], layers[-1, 0, :, P:].flip(0), atol=1e-6)
    assert targets[0].tolist() == Vocab(words).ids(words + ["</S>", "<S>"]).tolist()


def test_sentence_targets_are_next_and_previous_tokens():
    vocab = Vocab(["a", "b"])
    batch = encode_sentences([["a", "b"], ["b"]], vocab, TokenIds(ByteLexicon(50)))
    S, E = 0, 1
    assert batch.targets[0].tolist() == [[3, 4, E, IGNORE], [4, E, IGNORE, IGNORE]]
    assert batch.targets[1].tolist() == [[IGNORE, S, 3, 4], [IGNORE, S, 4, IGNORE]]
    assert batch.n_targets == 5


def test_sentence_loss_ignores_padding(tiny_lm):
    vocab = Vocab(["a", "b"])
    ids = TokenIds(ByteLexicon(50))
    alone, _ = tiny_lm(encode_sentences([["b"]], vocab, ids))
    batched, _ = tiny_lm(encode_sentences([["b"], ["a", "b", "a", "a"]], vocab, ids))
    other, _ = tiny_lm(encode_sentences([["a", "b", "a", "a"]], vocab, ids))
    assert torch.allclose(alone + other, batched, atol=1e-5)


def test_pretraining_reads_tokens_through_the_encoders_lexicon(tiny_lm):
    """One id path: a training batch holds exactly the ids the biLM's own token encoder
    makes at prediction time, the corpus' "<S>"/"</S>" being the boundary keys."""
    encoder = tiny_lm.bilm.token_encoder
    batch = encode_sentences([["a", "<S>x", "\u00e9t\u00e9"]], Vocab(["a"]), TokenIds(encoder.lexicon))
    expected = encoder.token_ids([BOS_KEY, "a", "<S>x", "\u00e9t\u00e9", EOS_KEY])
    assert torch.equal(batch.char_ids[batch.index[0] - 1], expected)  # index counts from 1
