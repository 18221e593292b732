"""No silent random vectors (issue 20 item 2): a biLM that never received weights
refuses to run, unless the model config sets allow_random_weights = true."""
import warnings

import numpy
import pytest
import spacy
from spacy.training import Example

from spacy_elmo.model_config import model_config_from_options
from spacy_elmo.elmo_format import read_options
from spacy_elmo.layers import get_bilm

from .component_helpers import reference_layers

E120 = r"^\[E120\] This ELMo biLM .* never received weights"


def _blank(tiny_files, **model):
    nlp = spacy.blank("en")
    config = {**model_config_from_options(read_options(tiny_files[0])), **model}
    nlp.add_pipe("elmo", config={"model": config})
    return nlp


def test_a_component_without_weights_warns_then_refuses_to_run(tiny_files):
    nlp = _blank(tiny_files)
    with pytest.warns(UserWarning, match=r"^\[W111\] .*refuses to run"):
        nlp.initialize()
    with pytest.raises(ValueError, match=E120):
        nlp("The cat sat.")
    with pytest.raises(ValueError, match=E120):  # training runs the same model
        examples = [Example.from_dict(nlp.make_doc("a b"), {})]
        nlp.get_pipe("elmo").model.begin_update([eg.predicted for eg in examples])


def test_a_component_added_and_never_initialized_refuses_to_run(tiny_files):
    with pytest.raises(ValueError, match=E120):
        _blank(tiny_files)("The cat sat.")


def test_allow_random_weights_runs_the_random_biLM_without_a_warning(tiny_files):
    nlp = _blank(tiny_files, allow_random_weights=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp.initialize()
    doc = nlp("The cat sat.")
    expected = reference_layers(get_bilm(nlp.get_pipe("elmo").model), doc)
    numpy.testing.assert_allclose(doc._.elmo_layers, expected, atol=1e-5)
    assert nlp.config["components"]["elmo"]["model"]["allow_random_weights"] is True


def test_loaded_weights_count_in_saved_sourced_and_reinitialized_pipelines(
    make_nlp, tiny_bilm, tiny_files, tmp_path
):
    nlp = make_nlp()
    expected = reference_layers(tiny_bilm, nlp.make_doc("The cat sat."))
    # from_bytes into a pipeline built from the same config (no weights setting)
    other = _blank(tiny_files).from_bytes(nlp.to_bytes())
    numpy.testing.assert_allclose(other("The cat sat.")._.elmo_layers, expected, atol=1e-5)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    numpy.testing.assert_allclose(loaded("The cat sat.")._.elmo_layers, expected, atol=1e-5)
    sourced = spacy.blank("en")
    sourced.add_pipe("elmo", source=loaded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no W111: the sourced biLM has its weights
        sourced.initialize()
    numpy.testing.assert_allclose(sourced("The cat sat.")._.elmo_layers, expected, atol=1e-5)


def _standalone_tagger(tiny_files, **elmo):
    model = {**model_config_from_options(read_options(tiny_files[0])), **elmo}
    tok2vec = {"@architectures": "spacy-elmo.ElmoStandalone.v1", "dropout": 0.0, "elmo": model}
    nlp = spacy.blank("en")
    tagger = nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2",
                                                      "tok2vec": tok2vec}})
    tagger.add_label("X")
    return nlp, [Example.from_dict(nlp.make_doc("a b"), {"tags": ["X", "X"]})]


def test_a_standalone_biLM_without_weights_refuses_to_run(tiny_files):
    nlp, examples = _standalone_tagger(tiny_files)
    with pytest.raises(ValueError, match=E120):  # the tagger's initialize runs it
        nlp.initialize(lambda: examples)
    nlp, examples = _standalone_tagger(tiny_files, allow_random_weights=True)
    nlp.initialize(lambda: examples)
    assert [t.tag_ for t in nlp("a b")] == ["X", "X"]
