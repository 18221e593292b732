"""Saving and loading pipelines with "elmo", and docs carrying its outputs."""
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.util import load_model_from_config

from spacy_elmo.convert import convert_to_pipeline
from spacy_elmo.data_classes import ElmoData

from .component_helpers import TEXTS

LOAD_AND_SAVE = """
import sys, numpy, spacy
nlp = spacy.load(sys.argv[1])
docs = list(nlp.pipe(sys.argv[3:]))
numpy.save(sys.argv[2], numpy.concatenate([d._.elmo_layers for d in docs], axis=1))
"""


def _layers(nlp, texts=TEXTS):
    return numpy.concatenate([d._.elmo_layers for d in nlp.pipe(texts)], axis=1)


@pytest.fixture
def saved_pipeline(tmp_path, copied_model_files):
    """A pipeline written by convert, whose original HDF5 files are then deleted."""
    path = convert_to_pipeline(*copied_model_files, tmp_path / "pipeline")
    for original in copied_model_files:
        original.unlink()
    return path


@pytest.mark.slow
def test_fresh_process_loads_identical_vectors_without_the_hdf5(saved_pipeline, tmp_path):
    out = tmp_path / "layers.npy"
    subprocess.run([sys.executable, "-W", "ignore", "-c", LOAD_AND_SAVE, str(saved_pipeline),
                    str(out)] + TEXTS, check=True)
    numpy.testing.assert_array_equal(numpy.load(out), _layers(spacy.load(saved_pipeline)))


def test_to_bytes_from_bytes(nlp):
    copy = load_model_from_config(nlp.config, auto_fill=True).from_bytes(nlp.to_bytes())
    numpy.testing.assert_array_equal(_layers(copy), _layers(nlp))


def test_config_settings_win_over_saved_ones(tiny_pipeline_dir):
    nlp = spacy.load(tiny_pipeline_dir, config={"components": {"elmo": {"dtype": "float16"}}})
    assert nlp(TEXTS[0])._.elmo_layers.dtype == numpy.float16


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_doc_to_bytes_keeps_the_outputs(make_nlp, dtype):
    nlp = make_nlp(dtype=dtype, store_layers=[0, 2])
    doc = nlp(TEXTS[2])
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert restored._.elmo.layer_ids == (0, 2)
    assert restored._.elmo_layers.dtype == numpy.dtype(dtype)
    numpy.testing.assert_array_equal(restored._.elmo_layers, doc._.elmo_layers)
    numpy.testing.assert_array_equal(restored[3]._.elmo_vector, doc[3]._.elmo_vector)


def test_docbin_keeps_the_outputs(nlp):
    docs = list(nlp.pipe(TEXTS))
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    restored = list(DocBin().from_bytes(data).get_docs(nlp.vocab))
    for doc, back in zip(docs, restored):
        numpy.testing.assert_array_equal(back._.elmo_layers, doc._.elmo_layers)
        numpy.testing.assert_array_equal(back._.elmo_vectors, doc._.elmo_vectors)


def test_data_read_before_the_decoder_existed_is_decoded_on_access(nlp):
    doc = nlp(TEXTS[0])
    expected = doc._.elmo_layers.copy()
    # What a doc deserialized before spacy_elmo was imported holds: the encoded dict.
    doc.user_data[("._.", "elmo", None, None)] = doc._.elmo.to_msg()
    assert isinstance(doc._.elmo, ElmoData)
    numpy.testing.assert_array_equal(doc._.elmo_layers, expected)


@pytest.mark.slow  # starts worker processes
def test_two_processes_give_the_same_vectors(nlp):
    # Two threads in the parent: forked children used to hang in torch's thread pool.
    torch.set_num_threads(2)
    texts = TEXTS * 3
    single = list(nlp.pipe(texts, batch_size=4))
    multi = list(nlp.pipe(texts, n_process=2, batch_size=4))
    assert [d.text for d in multi] == texts
    for a, b in zip(single, multi):
        # children run torch on one thread, which may round differently
        numpy.testing.assert_allclose(b._.elmo_layers, a._.elmo_layers, atol=1e-6, rtol=0)


def test_missing_weights_name_the_file(saved_pipeline):
    (saved_pipeline / "elmo" / "model").unlink()
    with pytest.raises(FileNotFoundError, match=r"Component 'elmo': weights file .*elmo.model"):
        spacy.load(saved_pipeline)


def test_corrupt_weights_name_the_file(saved_pipeline):
    model_file = saved_pipeline / "elmo" / "model"
    model_file.write_bytes(model_file.read_bytes()[: 2000])
    with pytest.raises(ValueError, match=r"Component 'elmo': weights file .*elmo.model is corrupt"):
        spacy.load(saved_pipeline)


def test_weights_of_another_architecture_are_refused(tiny_pipeline_dir):
    overrides = {"components": {"elmo": {"model": {"lstm_dim": 48}}}}
    with pytest.raises(ValueError, match="is corrupt or does not match the model config"):
        spacy.load(tiny_pipeline_dir, config=overrides)


@pytest.mark.slow
def test_spacy_package_installs_and_loads(saved_pipeline, tmp_path):
    packages, target = tmp_path / "packages", tmp_path / "site"
    packages.mkdir()
    subprocess.run([sys.executable, "-m", "spacy", "package", str(saved_pipeline), str(packages),
                    "--name", "elmo_test", "--version", "1.0.0", "--build", "none"],
                   check=True, capture_output=True)
    source = packages / "en_elmo_test-1.0.0"
    assert "spacy-elmo" in (source / "meta.json").read_text()  # found as a requirement
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--target", str(target), str(source)],
                   check=True, capture_output=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import spacy; "
            "print(spacy.load('en_elmo_test')('Hello there')._.elmo_layers.shape)")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(target)],
                            check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "(3, 2, 16)"


def test_model_bytes_that_are_not_a_thinc_model_are_e109(tiny_pipeline_dir, tmp_path):
    import srsly
    from spacy_elmo.pipeline_component import Elmo  # noqa: F401  (the factory)

    elmo = spacy.load(tiny_pipeline_dir).get_pipe("elmo")
    for data in (srsly.msgpack_dumps(5), srsly.msgpack_dumps([1, 2]), b"\x93garbage", b""):
        with pytest.raises(ValueError, match=r"^\[E109\] Component 'elmo'"):
            elmo.from_bytes(srsly.msgpack_dumps({"model": data, "vocab": b""}), exclude=["vocab"])


def test_a_bug_while_loading_is_not_reported_as_a_corrupt_file(tiny_pipeline_dir, monkeypatch):
    """Only the exceptions meaning "bad file" (ValueError) become E109 (issue 21)."""
    def broken(module, data, device):
        raise TypeError("a bug, not a bad file")

    monkeypatch.setattr("spacy_elmo.layers.bilm_layer.deserialize_state", broken)
    with pytest.raises(TypeError, match="a bug, not a bad file"):
        spacy.load(tiny_pipeline_dir)


def test_a_pipeline_and_its_component_pickle(nlp):
    """The component's weak reference to its pipeline (replace_listeners) is not pickled."""
    import pickle

    expected = nlp("two words")._.elmo_vectors
    loaded = pickle.loads(pickle.dumps(nlp))
    numpy.testing.assert_allclose(loaded("two words")._.elmo_vectors, expected, atol=1e-6)
    component = pickle.loads(pickle.dumps(nlp.get_pipe("elmo")))
    assert component._nlp() is None and nlp.get_pipe("elmo")._nlp() is nlp
