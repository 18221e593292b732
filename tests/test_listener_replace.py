"""nlp.replace_listeners on ELMo listeners, then save and reload (issue 20 item 3)."""
import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam

from spacy_elmo.elmo_format import read_options
from spacy_elmo.model_config import model_config_from_options

TRAIN = [("I like green eggs", ["PRP", "VBP", "JJ", "NNS"]), ("Eat blue ham", ["VB", "JJ", "NN"])]
TEXTS = [t for t, _ in TRAIN] + ["green ham and blue eggs"]


def _listener():
    return {"@architectures": "spacy-elmo.ElmoListener.v1", "dropout": 0.2, "gamma": 0.5,
            "layer_weights": [0.0, 1.0, 0.5], "layer_norm": True}


def _readme_tok2vec():
    """The README's config: a tok2vec component whose embed is ElmoConcatEmbed.v1."""
    return {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "spacy-elmo.ElmoConcatEmbed.v1", "width": 24, "elmo": _listener(),
                  "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 24,
                            "attrs": ["NORM", "SHAPE"], "rows": [500, 100],
                            "include_static_vectors": False}},
        "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 24, "depth": 1,
                   "window_size": 1, "maxout_pieces": 3},
    }


def _build(tiny_files, readme: bool):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": model_config_from_options(read_options(tiny_files[0]))})
    nlp.config["initialize"]["components"]["elmo"] = {"weights": str(tiny_files[1])}
    if readme:
        nlp.add_pipe("tok2vec", config={"model": _readme_tok2vec()})
        tok2vec = {"@architectures": "spacy.Tok2VecListener.v1", "width": 24}
    else:
        tok2vec = _listener()
    tagger = nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2",
                                                      "tok2vec": tok2vec}})
    for tag in sorted({t for _, tags in TRAIN for t in tags}):
        tagger.add_label(tag)
    examples = [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in TRAIN]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    return nlp


def _scores(nlp):
    return [nlp.get_pipe("tagger").model.predict([doc])[0] for doc in nlp.pipe(TEXTS)]


@pytest.mark.parametrize("readme,pipe,path", [(True, "tok2vec", "model.embed.elmo"),
                                              (False, "tagger", "model.tok2vec")])
@pytest.mark.parametrize("remove_elmo", [False, True])
def test_replaced_listeners_save_and_reload(tiny_files, tmp_path, readme, pipe, path, remove_elmo):
    nlp = _build(tiny_files, readme)
    before = _scores(nlp)
    nlp.replace_listeners("elmo", pipe, [path])
    for found, expected in zip(_scores(nlp), before):
        numpy.testing.assert_allclose(found, expected, atol=1e-5)
    if remove_elmo:
        nlp.remove_pipe("elmo")
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.pipe_names == nlp.pipe_names
    for found, expected in zip(_scores(loaded), before):
        numpy.testing.assert_allclose(found, expected, atol=1e-5)
    block = loaded.config["components"][pipe]
    for key in path.split("."):
        block = block[key]
    # the saved config describes the replacement: the biLM with the listener's own mix
    assert block["@architectures"] == "spacy-elmo.ElmoStandalone.v1"
    assert block["elmo"]["@architectures"] == "spacy-elmo.ElmoModel.v2"
    assert (block["dropout"], block["gamma"], block["layer_weights"], block["layer_norm"]) == \
        (0.2, 0.5, [0.0, 1.0, 0.5], True)
    assert block["weights"] is None


def test_a_sourced_elmo_component_says_it_cannot_rewrite_the_config(tiny_files):
    nlp = _build(tiny_files, readme=False)
    other = spacy.blank("en")
    other.add_pipe("elmo", source=nlp)
    other.add_pipe("tagger", source=nlp)
    with pytest.warns(UserWarning, match=r"^\[W114\]"):
        other.replace_listeners("elmo", "tagger", ["model.tok2vec"])
