"""The "elmo" component: what it writes on docs, tokens and spans, and from which context."""
import inspect
import json
import subprocess
import sys
import warnings
from dataclasses import asdict

import h5py
import numpy
import pytest
from spacy.tokens import Doc
from spacy.util import registry

from spacy_elmo import ElmoOptions, published_options
from spacy_elmo.convert import convert_to_pipeline
from spacy_elmo.layers import ElmoSettings
from spacy_elmo.pipeline_component import DEFAULT_CONFIG

from .component_helpers import TEXTS, reference_layers

ATOL = 1e-5


@pytest.mark.slow
def test_factory_and_architecture_need_only_spacy(tiny_pipeline_dir):
    code = (
        "import sys, spacy\n"
        "nlp = spacy.blank('en')\n"
        "nlp.add_pipe('elmo', config={'model': {'lstm_dim': 16, 'projection_dim': 4,"
        " 'filters': [[1, 4], [2, 4]], 'n_highway': 1, 'char_dim': 4,"
        " 'allow_random_weights': True}})\n"
        "nlp.initialize()\n"
        "print(nlp('two words')._.elmo_layers.shape)\n"
    )
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "(3, 2, 8)"


@pytest.mark.parametrize("name", ["spacy-elmo.ElmoModel.v2", "spacy-elmo.ScalarMix.v1"])
def test_architectures_resolve(name):
    assert callable(registry.architectures.get(name))


@pytest.mark.parametrize("name", ["spacy-elmo.ElmoModel.v2"])
def test_default_config_and_builders_describe_the_published_original(name):
    """One set of defaults: the factory's [model] block and each builder's keyword
    defaults are the published 5.5B model (lstm 4096, projection 512) run with
    ElmoSettings' defaults."""
    model = dict(DEFAULT_CONFIG["elmo"]["model"])
    assert model.pop("@architectures") == "spacy-elmo.ElmoModel.v2"
    assert (model["lstm_dim"], model["projection_dim"], model["n_highway"]) == (4096, 512, 2)
    options = {k: v for k, v in model.items() if k in ElmoOptions.__dataclass_fields__}
    assert ElmoOptions(**{**options, "filters": tuple(map(tuple, options["filters"]))}) == \
        published_options("original")
    assert {k: v for k, v in model.items() if k not in options} == asdict(ElmoSettings())
    defaults = {k: p.default for k, p in inspect.signature(registry.architectures.get(name)).parameters.items()}
    for key, value in defaults.items():
        expected = model[key]
        assert (list(map(list, value)) if key == "filters" else value) == expected, key


def test_layers_equal_bilm_embed(nlp, tiny_bilm):
    for doc in nlp.pipe(TEXTS):
        assert doc._.elmo_layers.shape == (3, len(doc), 16)
        assert doc._.elmo_layers.dtype == numpy.float32
        expected = reference_layers(tiny_bilm, doc)
        numpy.testing.assert_allclose(doc._.elmo_layers, expected, atol=ATOL)


def test_original_model_reproduces_tensorflow_outputs(make_nlp, fixture_files, fixture_dir):
    nlp = make_nlp(files=fixture_files)
    sentences = json.loads((fixture_dir / "sentences.json").read_text())
    for k, group in enumerate(sentences):
        # batch 0 of the fixtures started from a zero state, as every sentence does here
        doc = nlp(Doc(nlp.vocab, words=group[0].split()))
        with h5py.File(fixture_dir / f"lm_embeddings_{k}.hdf5", "r") as handle:
            forward, backward = handle["0"][...]
        expected = numpy.concatenate([forward, backward], axis=-1)
        numpy.testing.assert_allclose(doc._.elmo_layers[-1], expected, atol=1e-5)


def test_default_mix_is_plain_average(nlp):
    doc = nlp(TEXTS[2])
    numpy.testing.assert_allclose(doc._.elmo_vectors, doc._.elmo_layers.mean(axis=0), atol=1e-6)


def test_layer_weights_and_gamma_set_the_mix(make_nlp):
    doc = make_nlp(layer_weights=[0.0, 0.5, 1.5], gamma=2.0)(TEXTS[0])
    layers = doc._.elmo_layers
    numpy.testing.assert_allclose(doc._.elmo_vectors, 2.0 * (0.5 * layers[1] + 1.5 * layers[2]),
                                  atol=1e-6)


def test_token_vector_is_a_view_of_doc_vectors(nlp):
    doc = nlp(TEXTS[0])
    for token in doc:
        assert numpy.shares_memory(token._.elmo_vector, doc._.elmo_vectors)
        numpy.testing.assert_array_equal(token._.elmo_vector, doc._.elmo_vectors[token.i])


def test_span_vector_is_mean_of_its_non_space_tokens(nlp):
    doc = nlp("Hello \n\n world again")
    assert doc[1].is_space
    numpy.testing.assert_allclose(
        doc[0:3]._.elmo_vector, doc._.elmo_vectors[[0, 2]].mean(axis=0), atol=1e-7)
    numpy.testing.assert_array_equal(doc[1:2]._.elmo_vector, numpy.zeros(16, dtype="float32"))


def test_whitespace_tokens_are_skipped_and_zero(nlp, tiny_bilm):
    doc = nlp("Hello \n\n world")
    assert [t.is_space for t in doc] == [False, True, False]
    assert not doc._.elmo_layers[:, 1].any()
    expected = tiny_bilm.embed([["Hello", "world"]])[0]
    numpy.testing.assert_allclose(doc._.elmo_layers[:, [0, 2]], expected, atol=ATOL)


def test_store_layers_keeps_the_chosen_layers(make_nlp, nlp):
    text = TEXTS[2]
    doc = make_nlp(store_layers=[2])(text)
    full = nlp(text)
    assert doc._.elmo.layer_ids == (2,)
    numpy.testing.assert_allclose(doc._.elmo_layers, full._.elmo_layers[2:3], atol=1e-6)
    numpy.testing.assert_allclose(doc._.elmo_vectors, full._.elmo_vectors, atol=1e-6)


def test_float16_storage(make_nlp, nlp):
    doc = make_nlp(dtype="float16")(TEXTS[2])
    full = nlp(TEXTS[2])
    assert doc._.elmo_layers.dtype == doc._.elmo_vectors.dtype == numpy.float16
    numpy.testing.assert_allclose(doc._.elmo_layers, full._.elmo_layers, atol=2e-3)


@pytest.mark.parametrize("setting", [{"dtype": "float64"}, {"layer_weights": [1.0, 1.0]},
                                     {"store_layers": [3]}])
def test_bad_settings_are_refused(make_nlp, setting):
    with pytest.raises(ValueError, match="Component 'elmo'"):
        make_nlp(**setting)


def test_set_doc_vectors_drives_vector_and_similarity(make_nlp):
    nlp = make_nlp(set_doc_vectors=True)
    doc = nlp("The cat sat. \n A dog ran.")
    vectors = doc._.elmo_vectors
    numpy.testing.assert_array_equal(doc.tensor, vectors)
    numpy.testing.assert_array_equal(doc[1].vector, vectors[1])
    numpy.testing.assert_allclose(doc[0:3].vector, vectors[0:3].mean(axis=0), atol=1e-7)
    numpy.testing.assert_allclose(doc.vector, doc[:]._.elmo_vector, atol=1e-7)
    assert doc[1].has_vector and doc.has_vector
    a, b = vectors[1], vectors[6]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no word vectors loaded" warning
        similarity = doc[1].similarity(doc[6])
    assert similarity == pytest.approx(float(a @ b / numpy.linalg.norm(a) / numpy.linalg.norm(b)),
                                       abs=1e-6)
    assert doc[0:3].similarity(doc[0:3]) == pytest.approx(1.0, abs=1e-6)


def test_without_the_flag_doc_tensor_is_untouched(make_nlp):
    doc = make_nlp()(TEXTS[0])
    assert doc.tensor.size == 0 and "vector" not in doc.user_token_hooks


def test_converted_pipeline_sets_doc_vectors(nlp):
    """`convert` writes set_doc_vectors = true: .similarity works out of the box."""
    assert nlp.config["components"]["elmo"]["set_doc_vectors"] is True
    doc = nlp(TEXTS[0])
    numpy.testing.assert_array_equal(doc.tensor, doc._.elmo_vectors)
    a, b = doc._.elmo_vectors[1], doc._.elmo_vectors[5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        similarity = doc[1].similarity(doc[5])
    assert similarity == pytest.approx(float(a @ b / numpy.linalg.norm(a) / numpy.linalg.norm(b)), abs=1e-6)


def test_each_sentence_is_its_own_sequence(make_nlp, tiny_bilm):
    text = "The cat sat on the mat. Then it slept. Dogs bark loudly at night."
    doc = make_nlp(sentencizer=True)(text)
    assert len(list(doc.sents)) == 3
    expected = reference_layers(tiny_bilm, doc, sentences=True)
    numpy.testing.assert_allclose(doc._.elmo_layers, expected, atol=ATOL)
    whole = reference_layers(tiny_bilm, doc, sentences=False)
    assert numpy.abs(doc._.elmo_layers[1:] - whole[1:]).max() > 1e-3


def test_without_sentences_the_doc_is_one_sequence(nlp, tiny_bilm):
    doc = nlp("The cat sat on the mat. Then it slept.")
    numpy.testing.assert_allclose(doc._.elmo_layers, reference_layers(tiny_bilm, doc), atol=ATOL)


def test_pipe_equals_one_by_one(nlp, ewt_words):
    # Varied lengths, so that batches mix short and long sequences (sorted by length).
    texts = [" ".join(ewt_words[i : i + n]) for i, n in zip(range(0, 900, 90), range(1, 60, 6))]
    texts += TEXTS
    piped = list(nlp.pipe(texts, batch_size=7))
    for text, doc in zip(texts, piped):
        alone = nlp(text)
        assert doc.text == alone.text
        # Identical up to float32 BLAS rounding, which depends on the batch's shape.
        numpy.testing.assert_allclose(doc._.elmo_layers, alone._.elmo_layers, atol=1e-6, rtol=0)


def test_empty_and_whitespace_docs(nlp):
    for text in ["", "   ", " \n\t \n"]:
        doc = nlp(text)
        assert doc._.elmo_layers.shape == (3, len(doc), 16)
        assert doc._.elmo_vectors.shape == (len(doc), 16)
        assert not doc._.elmo_layers.any()
    docs = list(nlp.pipe(["", "  "]))
    assert [d._.elmo_layers.shape for d in docs] == [(3, 0, 16), (3, 1, 16)]


@pytest.mark.parametrize("text", [
    "bell\x07 nul\x00 esc\x1b del\x7f tab\tend",
    "Hello мир 世界 مرحبا שלום 🙂 naïve",
    "x" * 300 + " long-token",
])
def test_unusual_text_matches_bilm(nlp, tiny_bilm, text):
    doc = nlp(text)
    assert numpy.isfinite(doc._.elmo_layers).all()
    numpy.testing.assert_allclose(doc._.elmo_layers, reference_layers(tiny_bilm, doc), atol=ATOL)


@pytest.mark.slow  # a long-document stress test: 300 windows through the biLM
def test_100k_token_doc_without_sentences(make_nlp, ewt_words):
    nlp = make_nlp(model={"max_length": 256, "window_overlap": 32})
    words = (ewt_words * (100_000 // len(ewt_words) + 1))[:100_000]
    doc = nlp(Doc(nlp.vocab, words=words))
    layers = doc._.elmo_layers
    assert layers.shape == (3, 100_000, 16)
    assert numpy.isfinite(layers).all() and layers[1:, -1].any()


GPU_CHECK = """
import sys, numpy, spacy, torch
spacy.require_gpu()
from spacy_elmo.layers import get_bilm
nlp = spacy.load(sys.argv[1])
assert next(get_bilm(nlp.get_pipe("elmo").model).parameters()).is_cuda
layers = nlp(sys.argv[3])._.elmo_layers
assert isinstance(layers, numpy.ndarray)
numpy.testing.assert_allclose(layers, numpy.load(sys.argv[2]), atol=1e-5)
"""


def test_gpu_after_require_gpu(nlp, tiny_pipeline_dir, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("cupy")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    numpy.save(tmp_path / "cpu.npy", nlp(TEXTS[2])._.elmo_layers)
    # a fresh process: require_gpu changes Thinc's ops for the whole process
    subprocess.run([sys.executable, "-W", "ignore", "-c", GPU_CHECK, str(tiny_pipeline_dir),
                    str(tmp_path / "cpu.npy"), TEXTS[2]], check=True)


def test_initialize_rejects_mismatched_options(make_nlp, tiny_files, tmp_path):
    options = json.loads(tiny_files[0].read_text())
    options["lstm"]["dim"] = 48
    (tmp_path / "options.json").write_text(json.dumps(options))
    (tmp_path / "weights.hdf5").write_bytes(tiny_files[1].read_bytes())
    with pytest.raises(ValueError, match=r"options.json.*lstm_dim is 48 there, 32 in the config"):
        make_nlp(files=(tiny_files[0], tmp_path))


def test_initialize_from_a_pretraining_output(make_nlp, tiny_files, tmp_path, nlp):
    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    for path in tiny_files:
        (final / path.name).write_bytes(path.read_bytes())
    doc = make_nlp(files=(tiny_files[0], tmp_path / "run"))(TEXTS[0])
    numpy.testing.assert_array_equal(doc._.elmo_layers, nlp(TEXTS[0])._.elmo_layers)


def test_initialize_from_a_pipeline_directory(make_nlp, tiny_files, tiny_pipeline_dir, nlp):
    doc = make_nlp(files=(tiny_files[0], tiny_pipeline_dir))(TEXTS[2])
    numpy.testing.assert_array_equal(doc._.elmo_layers, nlp(TEXTS[2])._.elmo_layers)


def test_initialize_names_a_missing_path(make_nlp, tiny_files, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.hdf5"):
        make_nlp(files=(tiny_files[0], tmp_path / "nowhere.hdf5"))


def test_convert_refuses_a_corrupt_weights_file(copied_model_files, tmp_path):
    options_file, weights_file = copied_model_files
    weights_file.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="weights.hdf5"):
        convert_to_pipeline(options_file, weights_file, tmp_path / "out")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_stored_form_of_a_windowed_doc_equals_the_mix_of_the_model_layers(make_nlp, dtype):
    """Without listeners the component computes what it keeps window by window; the
    result is the hand-written mix gamma * sum_j w_j h_j of the model's full layers."""
    weights, gamma = [0.2, 0.5, 0.3], 1.5
    nlp = make_nlp(model={"max_length": 7, "window_overlap": 2}, store_layers=[0, 2],
                   layer_weights=weights, gamma=gamma, dtype=dtype)
    words = ("the cat sat on the mat and then it ran off to see a dog that " * 3).split()
    doc = Doc(nlp.vocab, words=words)
    layers = nlp.get_pipe("elmo").model.predict([doc])[0].layers  # (3, n, 16), float32
    doc = nlp(doc)
    expected = gamma * sum(w * layer for w, layer in zip(weights, layers))
    tolerance = 1e-6 if dtype == "float32" else 4e-3
    assert doc._.elmo_vectors.dtype == doc._.elmo_layers.dtype == numpy.dtype(dtype)
    numpy.testing.assert_allclose(doc._.elmo_vectors, expected, atol=tolerance)
    numpy.testing.assert_allclose(doc._.elmo_layers, layers[[0, 2]], atol=tolerance)


def test_prediction_without_listeners_never_builds_the_full_layer_array(make_nlp, monkeypatch):
    nlp = make_nlp(model={"max_length": 6, "window_overlap": 2}, store_layers=[])
    doc = Doc(nlp.vocab, words=[f"w{i}" for i in range(40)])
    ops = nlp.get_pipe("elmo").model.ops
    shapes = []
    allocate = ops.alloc3f
    monkeypatch.setattr(ops, "alloc3f", lambda *shape, **kw: shapes.append(shape) or allocate(*shape, **kw))
    doc = nlp(doc)
    assert doc._.elmo_layers.shape == (0, 40, 16) and doc._.elmo_vectors[:, :3].all()
    assert (3, 40, 16) not in shapes
    nlp.get_pipe("elmo").model.predict([doc])  # the model's own forward does build it
    assert (3, 40, 16) in shapes
