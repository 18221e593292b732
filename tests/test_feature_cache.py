"""The frozen-feature cache of spacy-elmo.ElmoModel (issue 12, item 1).

The biLM runs once per LM sequence; later epochs read its outputs from the cache. The
biLM is stateless but not bit-for-bit batch-independent (the step of a single active
row uses another matmul kernel: test_bilm_determinism compares at atol=1e-5), so the
exact reference for a cached value is the uncached output of the batch it was first
computed in; against other batch compositions the tolerance is the biLM's own.
"""
import shutil

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import fix_random_seed, load_config
from thinc.api import SGD, Adam

from spacy_elmo import save_allennlp
from spacy_elmo.pipeline_files import init_bilm_from
from spacy_elmo.layers import FeatureCache, feature_cache, get_bilm

from .conftest import random_bilm

TEXTS = [
    "The cat sat on the mat. It was warm there!",
    "A considerably longer sentence, with commas, numbers like 42 and more words in it.",
    "Short one. Another short one here. And a third.",
    "Dogs bark. Birds sing loudly in the early morning light.",
    "Hello world. Hello  world again, with a double space.",
    "One more doc to make the batches differ.",
]
EPOCH_1 = [[0, 1, 2], [3, 4, 5]]
EPOCH_2 = [[5, 2], [0, 4, 3, 1]]  # other batch compositions, other order
ATOL = 1e-5  # the biLM's own batch (in)dependence, as in test_bilm_determinism


class ForwardCounter:
    """Counts the calls of the torch biLM's LSTM stack and the LM sequences (rows) they
    run (a forward hook)."""

    def __init__(self, nlp) -> None:
        self.rows = 0
        self.calls = 0
        self.handle = get_bilm(nlp.get_pipe("elmo").model).lstm.register_forward_hook(self)

    def __call__(self, module, inputs, output) -> None:
        self.calls += 1
        self.rows += inputs[0].shape[2]  # x: (2, T, B, D)


def _layers(nlp, texts):
    return [doc._.elmo_layers.copy() for doc in nlp.pipe(texts)]


def _epoch(nlp, batches):
    """{doc index: layers} over one pass of the given batches."""
    found = {}
    for batch in batches:
        for i, layers in zip(batch, _layers(nlp, [TEXTS[i] for i in batch])):
            found[i] = layers
    return found


def _n_sequences(nlp, indices):
    return sum(len(list(nlp(TEXTS[i]).sents)) for i in indices)


@pytest.fixture
def cached(make_nlp):
    return make_nlp(sentencizer=True)


@pytest.fixture
def uncached(make_nlp):
    return make_nlp(model={"feature_cache_bytes": 0}, sentencizer=True)


def test_cached_outputs_equal_uncached_over_two_epochs(cached, uncached):
    first, reference = _epoch(cached, EPOCH_1), _epoch(uncached, EPOCH_1)
    second, recomputed = _epoch(cached, EPOCH_2), _epoch(uncached, EPOCH_2)
    assert len(feature_cache(cached.get_pipe("elmo").model)) > 0
    assert not feature_cache(uncached.get_pipe("elmo").model).enabled
    for i in range(len(TEXTS)):
        assert numpy.array_equal(first[i], reference[i])  # computed: bit for bit
        assert numpy.array_equal(second[i], reference[i])  # served: the same bits
        numpy.testing.assert_allclose(second[i], recomputed[i], atol=ATOL, rtol=0)


def test_same_batches_again_are_bit_identical_with_and_without_cache(cached, uncached):
    _epoch(cached, EPOCH_1), _epoch(uncached, EPOCH_1)
    again = [list(reversed(batch)) for batch in reversed(EPOCH_1)]
    second, recomputed = _epoch(cached, again), _epoch(uncached, again)
    assert all(numpy.array_equal(second[i], recomputed[i]) for i in range(len(TEXTS)))


def test_second_epoch_runs_no_bilm_forward(cached):
    counter = ForwardCounter(cached)
    n_sequences = _n_sequences(cached, range(len(TEXTS)))  # counted before: nlp() runs it
    counter.rows = counter.calls = 0
    cache = feature_cache(cached.get_pipe("elmo").model)
    cache.clear()
    _epoch(cached, EPOCH_1)
    assert counter.rows == n_sequences and counter.calls > 0
    counter.rows = counter.calls = 0
    _epoch(cached, EPOCH_2)
    assert counter.calls == 0 and counter.rows == 0


def test_only_new_sequences_run(cached):
    _epoch(cached, EPOCH_1)
    counter = ForwardCounter(cached)
    _layers(cached, [TEXTS[0], "Completely new words. " + TEXTS[3]])
    # one new sentence; "Dogs bark." and the rest of TEXTS[3] are cached
    assert counter.rows == 1


def test_float16_storage_rounds_the_computed_values(make_nlp, uncached):
    half = make_nlp(model={"feature_cache_dtype": "float16"}, sentencizer=True)
    first, reference = _epoch(half, EPOCH_1), _epoch(uncached, EPOCH_1)
    second = _epoch(half, EPOCH_2)
    cache = feature_cache(half.get_pipe("elmo").model)
    assert all(entry[0].dtype == numpy.float16 for entry in cache._entries.values())
    for i in range(len(TEXTS)):
        assert numpy.array_equal(first[i], reference[i])
        assert numpy.array_equal(second[i], reference[i].astype("float16").astype("float32"))


def test_lru_eviction_keeps_the_byte_budget():
    cache = FeatureCache(max_bytes=2800)
    entry = numpy.ones((3, 20, 8), dtype="float32")  # 1920 bytes
    cache.put(("a",), entry)
    assert cache.nbytes > 1920 and ("a",) in cache
    cache.put(("b",), entry)  # two do not fit: "a" (least recently used) goes
    assert ("b",) in cache and ("a",) not in cache and cache.nbytes <= 2800
    small = numpy.ones((3, 4, 8), dtype="float32")  # 384 bytes: "b" and "c" fit, not a third
    cache.put(("c",), small)
    assert cache.get(("b",)) is not None  # "b" is now the most recent
    cache.put(("d",), small)
    assert ("c",) not in cache and ("b",) in cache and ("d",) in cache
    cache.put(("huge",), numpy.ones((3, 200, 8), dtype="float32"))  # over budget: not kept
    assert ("huge",) not in cache and len(cache) == 2 and cache.nbytes <= 2800


def test_stored_values_are_copies_in_the_storage_dtype():
    batch = numpy.arange(2 * 3 * 4 * 5, dtype="float32").reshape(3, 2, 4, 5)
    cache = FeatureCache(max_bytes=10_000, dtype="float16")
    cache.put(("x",), batch[:, 0])
    batch[:] = -1
    stored = cache.get(("x",))
    assert stored.dtype == numpy.float16 and stored.base is None
    assert stored[0, 0, 1] == 1.0 and stored[2, 3, 4] == 2 * 4 * 5 * 2 + 19


def test_pipeline_never_exceeds_the_budget_and_reruns_evicted(make_nlp, ewt_words):
    nlp = make_nlp(model={"feature_cache_bytes": 20_000}, sentencizer=True)
    cache = feature_cache(nlp.get_pipe("elmo").model)
    texts = [" ".join(ewt_words[i : i + 12]) + " ." for i in range(0, 600, 12)]
    for text in texts:
        nlp(text)
        assert 0 < cache.nbytes <= 20_000
    assert len(cache) < len(texts)
    counter = ForwardCounter(nlp)
    nlp(texts[-1])
    assert counter.calls == 0  # the most recent one is kept
    doc = nlp(texts[0])
    assert counter.calls == 1 and counter.rows == len(list(doc.sents))  # evicted: run again


def test_new_weights_invalidate_the_cache(cached, tiny_options, tmp_path, make_nlp):
    before = _epoch(cached, EPOCH_1)
    options, weights = tmp_path / "options.json", tmp_path / "weights.hdf5"
    save_allennlp(random_bilm(tiny_options, seed=7), options, weights)
    init_bilm_from(get_bilm(cached.get_pipe("elmo").model), weights)
    after = _epoch(cached, EPOCH_1)
    expected = _epoch(make_nlp(files=(options, weights), sentencizer=True), EPOCH_1)
    for i in range(len(TEXTS)):
        assert numpy.array_equal(after[i], expected[i])
        assert not numpy.allclose(after[i], before[i], atol=1e-3)


def test_loading_pipeline_bytes_invalidates_the_cache(cached, tiny_options, tmp_path, make_nlp):
    options, weights = tmp_path / "options.json", tmp_path / "weights.hdf5"
    save_allennlp(random_bilm(tiny_options, seed=8), options, weights)
    other = make_nlp(files=(options, weights), sentencizer=True)
    _epoch(cached, EPOCH_1)
    cached.get_pipe("elmo").from_bytes(other.get_pipe("elmo").to_bytes())
    after, expected = _epoch(cached, EPOCH_1), _epoch(other, EPOCH_1)
    assert all(numpy.array_equal(after[i], expected[i]) for i in range(len(TEXTS)))


def test_an_optimizer_never_writes_the_frozen_biLM(cached):
    """Without fine_tune the biLM is frozen: gradients left on it are dropped, so the
    cached outputs stay those of its (unchanged) weights."""
    before = _epoch(cached, EPOCH_1)
    elmo = cached.get_pipe("elmo")
    bilm = get_bilm(elmo.model)
    weights = {name: p.detach().clone() for name, p in bilm.named_parameters()}
    for param in bilm.parameters():
        param.grad = torch.ones_like(param)
    elmo.finish_update(SGD(0.01, use_averages=False))
    assert all(torch.equal(p, weights[name]) for name, p in bilm.named_parameters())
    assert all(p.grad is None for p in bilm.parameters())
    after = _epoch(cached, EPOCH_1)
    assert all(numpy.array_equal(after[i], before[i]) for i in range(len(TEXTS)))


def test_an_in_place_edit_of_the_frozen_biLM_clears_the_cache(cached, make_nlp):
    """No notice needed: torch's version counters show the edit (nn/derived.py)."""
    before = _epoch(cached, EPOCH_1)
    bilm = get_bilm(cached.get_pipe("elmo").model)
    with torch.no_grad():
        bilm.lstm.layers[0].bias.add_(0.5)
    counter = ForwardCounter(cached)
    after = _epoch(cached, EPOCH_1)
    assert counter.calls > 0
    fresh = make_nlp(sentencizer=True)
    get_bilm(fresh.get_pipe("elmo").model).load_state_dict(bilm.state_dict())
    expected = _epoch(fresh, EPOCH_1)
    for i in range(len(TEXTS)):
        assert numpy.array_equal(after[i], expected[i])
        assert not numpy.allclose(after[i], before[i], atol=1e-4)


def test_fine_tuned_model_never_caches(make_nlp):
    nlp = make_nlp(model={"fine_tune": True}, sentencizer=True)
    assert not feature_cache(nlp.get_pipe("elmo").model).enabled
    n_sequences = _n_sequences(nlp, range(len(TEXTS)))
    counter = ForwardCounter(nlp)
    _epoch(nlp, EPOCH_1), _epoch(nlp, EPOCH_1)
    assert counter.rows == 2 * n_sequences
    assert len(feature_cache(nlp.get_pipe("elmo").model)) == 0


@pytest.mark.parametrize("setting,value", [
    ("feature_cache_bytes", -1), ("feature_cache_dtype", "int8"),
])
def test_bad_cache_settings_are_refused(make_nlp, setting, value):
    with pytest.raises(ValueError, match=f"{setting} must be"):
        make_nlp(model={setting: value})


@pytest.mark.parametrize("value", [-1, 1.5, "1GB", True])
def test_cache_budget_must_be_a_byte_count(value):
    with pytest.raises(ValueError, match="feature_cache_bytes must be a non-negative"):
        FeatureCache(max_bytes=value)


def test_pipeline_saved_without_the_settings_still_loads(tiny_pipeline_dir, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(tiny_pipeline_dir, folder)
    config = load_config(folder / "config.cfg")
    for name in ("feature_cache_bytes", "feature_cache_dtype"):
        config["components"]["elmo"]["model"].pop(name, None)
    config.to_disk(folder / "config.cfg")
    assert "feature_cache" not in (folder / "config.cfg").read_text()
    nlp = spacy.load(folder)
    cache = feature_cache(nlp.get_pipe("elmo").model)
    assert cache.max_bytes == 1_000_000_000 and cache.dtype == "float32"
    nlp("Loads and caches.")
    assert len(cache) == 1


def test_copied_model_starts_with_an_empty_cache(cached):
    _epoch(cached, EPOCH_1)
    model = cached.get_pipe("elmo").model
    assert len(feature_cache(model)) > 0 and len(feature_cache(model.copy())) == 0


# -- training: a tagger listening to a frozen, annotating elmo ---------------------------
TAGGED = [
    ("I like green eggs . They taste good", ["PRP", "VBP", "JJ", "NNS", ".", "PRP", "VBP", "JJ"]),
    ("Eat blue ham", ["VB", "JJ", "NN"]),
    ("Sam likes ham . Eggs are green", ["NNP", "VBZ", "NN", ".", "NNS", "VBP", "JJ"]),
    ("They eat eggs", ["PRP", "VBP", "NNS"]),
]


def _tagger_pipeline(make_nlp, cache_bytes):
    fix_random_seed(0)
    nlp = make_nlp(model={"feature_cache_bytes": cache_bytes}, sentencizer=True)
    listener = {"@architectures": "spacy-elmo.ElmoListener.v1", "dropout": 0.2}
    tagger = nlp.add_pipe("tagger", config={"model": {
        "@architectures": "spacy.Tagger.v2", "tok2vec": listener}})
    for _, tags in TAGGED:
        for tag in tags:
            tagger.add_label(tag)
    nlp.initialize(lambda: _tagged(nlp))
    return nlp


def _tagged(nlp, indices=range(len(TAGGED))):
    return [Example.from_dict(nlp.make_doc(TAGGED[i][0]), {"tags": TAGGED[i][1]})
            for i in indices]


def _train(nlp, epochs):
    """nlp.update as spacy train runs it with elmo frozen + annotating: losses per step
    and the final tag accuracy."""
    fix_random_seed(1)
    optimizer = Adam(0.05)
    history = []
    for batches in epochs:
        for batch in batches:
            losses = {}
            nlp.update(_tagged(nlp, batch), sgd=optimizer, losses=losses, drop=0.1,
                       exclude=["elmo"], annotates=["elmo", "sentencizer"])
            history.append(losses["tagger"])
    return history, nlp.evaluate(_tagged(nlp))["tag_acc"]


def test_training_has_the_same_losses_and_scores_with_and_without_cache(make_nlp):
    epochs = [[[0, 1], [2, 3]], [[3, 2], [1, 0]], [[1, 0], [3, 2]]] * 3
    cached = _tagger_pipeline(make_nlp, 1_000_000_000)
    counter = ForwardCounter(cached)
    with_cache = _train(cached, epochs)
    without_cache = _train(_tagger_pipeline(make_nlp, 0), epochs)
    assert with_cache == without_cache
    assert sum(with_cache[0][-2:]) < 0.95 * sum(with_cache[0][:2])  # it trained
    n_sequences = sum(len(list(cached(TAGGED[i][0]).sents)) for i in range(4))
    # later epochs and the final evaluation hit the cache: only the first pass ran it
    assert counter.rows == n_sequences


def test_training_with_recomposed_batches_matches_closely(make_nlp):
    epochs = [[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[3, 1], [2, 0]]]
    with_cache = _train(_tagger_pipeline(make_nlp, 1_000_000_000), epochs)
    without_cache = _train(_tagger_pipeline(make_nlp, 0), epochs)
    numpy.testing.assert_allclose(with_cache[0], without_cache[0], rtol=1e-4)
    assert with_cache[1] == without_cache[1]


def test_windows_of_a_long_doc_are_not_kept(make_nlp):
    """A doc cut into windows is computed as usual but leaves the cache empty (one long
    doc must not fill it with a copy of itself); a short doc is kept."""
    nlp = make_nlp(model={"max_length": 8, "window_overlap": 2})
    cache = feature_cache(nlp.get_pipe("elmo").model)
    long_doc = nlp(" ".join(f"word{i}" for i in range(30)))
    assert long_doc._.elmo_layers.shape[1] == 30 and len(cache) == 0
    nlp("A short one .")
    assert len(cache) == 1
