"""The n-gram baselines against values worked out by hand, and as distributions."""
import math

import pytest

from spacy_elmo.pretrain.ngram import KneserNey, baseline_perplexities, unigram_nll
from spacy_elmo.pretrain.vocab import Vocab

TRAIN = [["a", "b"], ["a", "c"]]
VOCAB = Vocab(["a", "b", "c"])  # <S> </S> <UNK> a b c: 5 possible targets
OUTCOMES = ["</S>", "<UNK>", "a", "b", "c"]


def test_kneser_ney_bigram_value_by_hand():
    # continuation counts of the unigram level: a 1, b 1, c 1, </S> 2 (total 5, 4 types)
    # p1(b) = (1 - .75) / 5 + .75 * 4 / 5 * 1/5 = 0.17
    # p(b | a) = (1 - .75) / 2 + .75 * 2 / 2 * 0.17 = 0.2525
    model = KneserNey(2, TRAIN, len(OUTCOMES))
    assert model.prob(("a",), "b") == pytest.approx(0.2525)
    # an unseen word only gets the interpolated mass: .75 * (.75 * 4 / 5 / 5) = 0.09
    assert model.prob(("a",), "<UNK>") == pytest.approx(0.09)


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("context", [("<S>", "<S>"), ("<S>", "a"), ("x", "a"), ("b", "c"), ("q", "q")])
def test_kneser_ney_sums_to_one_over_the_targets(order, context):
    model = KneserNey(order, TRAIN + [["b", "a", "c", "a"]], len(OUTCOMES))
    assert sum(model.prob(context, w) for w in OUTCOMES) == pytest.approx(1.0)


def test_unigram_add_one_by_hand():
    # targets of the training lines: a 2, b 1, c 1, </S> 2 (6); p(w) = (count + 1) / (6 + 5)
    expected = -math.log(2 / 11) - math.log(3 / 11)
    assert unigram_nll(TRAIN, [["b"]], len(OUTCOMES)) == pytest.approx(expected)


def test_baselines_map_unknown_words_and_score_both_directions():
    results = baseline_perplexities(TRAIN, [["a", "zebra"]], VOCAB)
    # "zebra" is <UNK>: forwards a, <UNK>, </S>; unigram is direction-free
    unigram = results["unigram"]
    expected = math.exp((-math.log(3 / 11) - math.log(1 / 11) - math.log(3 / 11)) / 3)
    assert unigram["forward"] == pytest.approx(expected)
    assert unigram["backward"] == pytest.approx(expected)
    assert unigram["n_tokens"] == 3
    bigram = results["kn_bigram"]
    average = math.exp((math.log(bigram["forward"]) + math.log(bigram["backward"])) / 2)
    assert bigram["average"] == pytest.approx(average)
    reversed_model = KneserNey(2, [s[::-1] for s in TRAIN], len(OUTCOMES))
    assert bigram["backward"] == pytest.approx(math.exp(reversed_model.nll([["<UNK>", "a"]]) / 3))
