"""Long sequences: overlapping windows and how their outputs are stitched."""
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc

from spacy_elmo import load_allennlp, save_allennlp
from spacy_elmo.nn.chars import boundary_char_ids, sentences_to_char_ids
from spacy_elmo.layers import get_bilm
from spacy_elmo.layers.sequences import Window, batches_by_length, plan_windows
from spacy_elmo.nn.windows import assign_positions, window_bounds
from spacy_elmo.nn.embedder import BOS_KEY, EOS_KEY

from .conftest import random_bilm

WORDS = list("abcdefghij")
# window_bounds(10, 4, 2) and, worked out by hand, the window each position is taken from:
# the one where it is farthest from a cut (the real start and end are not cuts).
BOUNDS = [(0, 4), (2, 6), (4, 8), (6, 10)]
OWNER = [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_window_bounds_overlap_and_cover():
    assert window_bounds(10, 4, 2) == BOUNDS
    assert window_bounds(4, 4, 2) == [(0, 4)]
    assert window_bounds(11, 4, 0) == [(0, 4), (4, 8), (7, 11)]


def test_each_position_comes_from_the_window_farthest_from_a_cut():
    assert assign_positions(10, BOUNDS).tolist() == OWNER


def test_plan_windows_adds_boundaries_only_at_real_ends():
    doc = Doc(spacy.blank("en").vocab, words=WORDS)
    windows = plan_windows([doc], max_length=4, overlap=2)
    assert [w.keys for w in windows] == [
        [BOS_KEY, "a", "b", "c", "d"], ["c", "d", "e", "f"], ["e", "f", "g", "h"],
        ["g", "h", "i", "j", EOS_KEY],
    ]
    assert [w.dst.tolist() for w in windows] == [[0, 1, 2], [3, 4], [5, 6], [7, 8, 9]]
    assert [w.src.tolist() for w in windows] == [[1, 2, 3], [1, 2], [1, 2], [1, 2, 3]]


def test_batches_respect_size_and_token_budget():
    windows = [Window(0, ["x"] * n, numpy.zeros(0), numpy.zeros(0)) for n in (3, 9, 5, 9, 2)]
    by_size = [[len(w.keys) for w in b] for b in batches_by_length(windows, 2, 1000)]
    assert by_size == [[9, 9], [5, 3], [2]]
    by_tokens = [[len(w.keys) for w in b] for b in batches_by_length(windows, 10, 18)]
    assert by_tokens == [[9, 9], [5, 3, 2]]
    assert [len(b) for b in batches_by_length(windows, 10, 1)] == [1] * 5


def _window_layers(bilm, words, start, end, n):
    """Independent route: char ids through BiLM.forward, boundaries at the real ends."""
    ids = sentences_to_char_ids([words[start:end]], add_boundaries=False)[0]
    bos, eos = boundary_char_ids()
    parts = ([bos[None]] if start == 0 else []) + [ids] + ([eos[None]] if end == n else [])
    with torch.no_grad():
        layers, _, _ = bilm(torch.from_numpy(numpy.concatenate(parts))[None])
    return layers[:, 0, int(start == 0):][:, : end - start].numpy()


def test_stitched_outputs_are_the_owning_windows_outputs(make_nlp, tiny_files):
    nlp = make_nlp(model={"max_length": 4, "window_overlap": 2})
    bilm = load_allennlp(*tiny_files)
    doc = nlp(Doc(nlp.vocab, words=WORDS))
    windows = [_window_layers(bilm, WORDS, s, e, len(WORDS)) for s, e in BOUNDS]
    expected = numpy.stack(
        [windows[k][:, i - BOUNDS[k][0]] for i, k in enumerate(OWNER)], axis=1)
    numpy.testing.assert_allclose(doc._.elmo_layers, expected, atol=1e-5)


def _long_doc_layers(nlp_factory, files, words, max_length, overlap):
    nlp = nlp_factory(model={"max_length": max_length, "window_overlap": overlap}, files=files)
    return nlp(Doc(nlp.vocab, words=words))._.elmo_layers


@pytest.fixture
def small_weights_files(tmp_path, tiny_options):
    """Random weights small enough that the LSTM forgets its start state (as trained ones
    do); with the larger default random weights it stays chaotic."""
    save_allennlp(random_bilm(tiny_options, scale=0.2), tmp_path / "options.json",
                  tmp_path / "weights.hdf5")
    return tmp_path / "options.json", tmp_path / "weights.hdf5"


@pytest.mark.parametrize("model", ["original_fixture", "tiny_random"])
def test_tokens_far_from_cuts_match_one_long_window(
    make_nlp, ewt_words, model, fixture_files, small_weights_files
):
    files = fixture_files if model == "original_fixture" else small_weights_files
    words = ewt_words[:400]
    full = _long_doc_layers(make_nlp, files, words, 1000, 0)
    # max_length 100, overlap 60: every token has >= 30 tokens of context around it
    stitched = _long_doc_layers(make_nlp, files, words, 100, 60)
    numpy.testing.assert_array_equal(stitched[0], full[0])  # context-free layer
    assert numpy.abs(stitched - full).max() < 1e-3
    # Control: without overlap, tokens at the cuts lose their context.
    cut = _long_doc_layers(make_nlp, files, words, 100, 0)
    assert numpy.abs(cut - full).max() > 1e-2


def test_fine_tuning_gradients_flow_through_each_owning_window(make_nlp, tiny_files):
    """Fine-tuning a doc cut into windows: the biLM's gradient is the sum, over the
    windows, of the gradient of each window's owned positions (worked out with autograd
    on independent copies of the biLM), and nothing flows from the positions discarded."""
    nlp = make_nlp(model={"max_length": 4, "window_overlap": 2, "fine_tune": True})
    model = nlp.get_pipe("elmo").model
    doc = Doc(nlp.vocab, words=WORDS)
    d_layers = numpy.random.default_rng(0).normal(size=_doc_shape(model, doc)).astype("float32")
    outputs, backprop = model.begin_update([doc])
    backprop([d_layers])
    found = get_bilm(model).lstm.layers[0].w_hidden.grad
    reference = load_allennlp(*tiny_files, requires_grad=True)
    for k, (start, end) in enumerate(BOUNDS):
        owned = [i for i in range(start, end) if OWNER[i] == k]
        layers = _window_layers_train(reference, WORDS, start, end, len(WORDS))
        d_window = torch.from_numpy(d_layers[:, owned])
        (layers[:, [i - start for i in owned]] * d_window).sum().backward()
    expected = reference.lstm.layers[0].w_hidden.grad
    assert found is not None and expected.abs().max() > 0
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=1e-4)


def _doc_shape(model, doc):
    bilm = get_bilm(model)
    return bilm.n_output_layers, len(doc), bilm.output_dim


def _window_layers_train(bilm, words, start, end, n):
    """As ``_window_layers``, keeping the graph for backward."""
    ids = sentences_to_char_ids([words[start:end]], add_boundaries=False)[0]
    bos, eos = boundary_char_ids()
    parts = ([bos[None]] if start == 0 else []) + [ids] + ([eos[None]] if end == n else [])
    layers, _, _ = bilm(torch.from_numpy(numpy.concatenate(parts))[None])
    return layers[:, 0, int(start == 0):][:, : end - start]


@pytest.mark.parametrize("settings,code", [
    ({"window_overlap": -1}, "E103"), ({"max_length": 4, "window_overlap": 4}, "E103"),
    ({"max_length": 0}, "E104"), ({"batch_size": 0}, "E104"), ({"max_batch_tokens": -3}, "E104"),
])
def test_bad_window_and_batch_settings_are_refused(make_nlp, settings, code):
    setting = next(iter(settings)) if code == "E104" else "window_overlap"
    with pytest.raises(ValueError, match=rf"^\[{code}\] spacy-elmo.ElmoModel: {setting}"):
        make_nlp(model=settings)
