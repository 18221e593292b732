"""Downstream components training on ELMo through spacy-elmo.ElmoListener.v1 (issue 4)."""
import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import Adam, Config

from spacy_elmo.elmo_format import read_options
from spacy_elmo.model_config import model_config_from_options
from spacy_elmo.layers import get_bilm


TRAIN = [
    ("I like green eggs", ["PRP", "VBP", "JJ", "NNS"]),
    ("Eat blue ham", ["VB", "JJ", "NN"]),
]


def _listener(**settings):
    return {"@architectures": "spacy-elmo.ElmoListener.v1", "dropout": 0.0, **settings}


@pytest.fixture
def build(tiny_files):
    """A blank pipeline: "elmo" (tiny random biLM) + a tagger listening to it."""
    options_file, weights_file = tiny_files

    def make(tok2vec=None, elmo_settings=None, with_elmo=True, fine_tune=False, initialize=True):
        nlp = spacy.blank("en")
        if with_elmo:
            model = model_config_from_options(read_options(options_file))
            model["fine_tune"] = fine_tune
            nlp.add_pipe("elmo", config={"model": model, **(elmo_settings or {})})
            nlp.config["initialize"]["components"]["elmo"] = {"weights": str(weights_file)}
        tagger_model = {"@architectures": "spacy.Tagger.v2", "tok2vec": tok2vec or _listener()}
        tagger = nlp.add_pipe("tagger", config={"model": tagger_model})
        for _, tags in TRAIN:
            for tag in tags:
                tagger.add_label(tag)
        if initialize:
            nlp.initialize(lambda: _examples(nlp))
        return nlp

    return make


def _examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in TRAIN]


def _train(nlp, steps=60, frozen=()):
    optimizer = Adam(0.02)
    losses = {}
    for _ in range(steps):
        losses = {}
        nlp.update(_examples(nlp), sgd=optimizer, losses=losses, exclude=frozen)
    return losses


def test_listener_is_found_and_linked(build):
    nlp = build()
    elmo, tagger = nlp.get_pipe("elmo"), nlp.get_pipe("tagger")
    assert elmo.listening_components == ["tagger"]
    listener = elmo.listener_map["tagger"][0]
    assert listener.upstream_name == "*" and listener.get_dim("nO") == 16
    assert tagger.model.get_ref("tok2vec").get_dim("nO") == 16


def test_untrained_listener_equals_the_component_mix(build):
    nlp = build()
    doc = nlp("I like green eggs")
    mixed = nlp.get_pipe("tagger").model.get_ref("tok2vec").predict([doc])[0]
    # both default to the plain average of the L+1 layers, gamma 1
    numpy.testing.assert_allclose(mixed, doc._.elmo_vectors, atol=1e-6)


@pytest.mark.slow  # 160 training steps
def test_tagger_overfits_on_elmo_features_and_survives_io(build, tmp_path):
    nlp = build()
    losses = _train(nlp, steps=160)
    assert losses["tagger"] < 0.05
    for text, tags in TRAIN:
        assert [t.tag_ for t in nlp(text)] == tags
    nlp.to_disk(tmp_path / "p")
    reloaded = spacy.load(tmp_path / "p")
    for text, tags in TRAIN:
        assert [t.tag_ for t in reloaded(text)] == tags
        numpy.testing.assert_allclose(
            reloaded(text)._.elmo_vectors, nlp(text)._.elmo_vectors, atol=1e-6)
    mixes = [p.get_pipe("tagger").model.get_ref("tok2vec").get_ref("mix") for p in (nlp, reloaded)]
    trained, loaded = (m.shims[0]._model.scalars.detach() for m in mixes)
    assert torch.equal(trained, loaded) and not torch.equal(trained, torch.zeros_like(trained))


def test_scalar_mix_is_learned_and_frozen_bilm_unchanged(build):
    nlp = build(tok2vec=_listener(layer_weights=[0.0, 0.0, 0.0]))
    bilm = get_bilm(nlp.get_pipe("elmo").model)
    before = {k: v.clone() for k, v in bilm.state_dict().items()}
    mix = nlp.get_pipe("tagger").model.get_ref("tok2vec").get_ref("mix")
    scalars_before = mix.shims[0]._model.scalars.detach().clone()
    _train(nlp, steps=20)
    assert all(bilm.state_dict()[k].equal(v) for k, v in before.items())
    assert not mix.shims[0]._model.scalars.detach().equal(scalars_before)


def test_fine_tuning_changes_the_bilm(build):
    nlp = build(fine_tune=True)
    bilm = get_bilm(nlp.get_pipe("elmo").model)
    before = bilm.lstm.layers[0].w_hidden.detach().clone()
    _train(nlp, steps=3)
    assert not bilm.lstm.layers[0].w_hidden.detach().equal(before)


def test_two_listeners_share_one_upstream_pass(build, tiny_files):
    nlp = build(initialize=False)
    second = nlp.add_pipe("tagger", name="tagger2", config={"model": {
        "@architectures": "spacy.Tagger.v2", "tok2vec": _listener()}})
    for _, tags in TRAIN:
        for tag in tags:
            second.add_label(tag)
    nlp.initialize(lambda: _examples(nlp))
    assert sorted(nlp.get_pipe("elmo").listening_components) == ["tagger", "tagger2"]
    losses = _train(nlp, steps=160)
    assert losses["tagger"] < 0.1 and losses["tagger2"] < 0.1


def test_replace_listeners_gives_the_same_predictions(build):
    nlp = build()
    _train(nlp, steps=40)
    texts = [t for t, _ in TRAIN]
    before = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
    scores_before = nlp.get_pipe("tagger").model.predict([nlp(texts[0])])[0]
    nlp.replace_listeners("elmo", "tagger", ["model.tok2vec"])
    assert nlp.get_pipe("elmo").listening_components == []
    assert [[t.tag_ for t in doc] for doc in nlp.pipe(texts)] == before
    doc = nlp.make_doc(texts[0])
    scores_after = nlp.get_pipe("tagger").model.predict([doc])[0]
    numpy.testing.assert_allclose(scores_after, scores_before, atol=1e-5)


def test_frozen_annotating_elmo_feeds_the_listener(build):
    nlp = build()
    bilm_bytes = nlp.get_pipe("elmo").to_bytes()
    optimizer = Adam(0.02)
    for _ in range(160):
        losses = {}
        # what spacy train does with frozen_components = annotating_components = ["elmo"]
        nlp.update(_examples(nlp), sgd=optimizer, losses=losses, exclude=["elmo"],
                   annotates=["elmo"])
    assert losses["tagger"] < 0.1
    assert nlp.get_pipe("elmo").to_bytes() == bilm_bytes


def test_frozen_elmo_without_annotations_is_a_clear_error(build):
    nlp = build()
    with pytest.raises(ValueError, match="annotating_components"):
        nlp.update(_examples(nlp), exclude=["elmo"])


def test_listener_without_elmo_component_fails_at_initialize(build):
    with pytest.raises(ValueError, match="has no upstream 'elmo' component"):
        build(with_elmo=False)


def test_width_mismatch_fails_at_initialize(build):
    with pytest.raises(ValueError, match="width 16 .* width = 32"):
        build(tok2vec=_listener(width=32))


def test_layer_count_mismatch_fails_at_initialize(build):
    with pytest.raises(ValueError, match="3 output layers .* n_layers = 4"):
        build(tok2vec=_listener(n_layers=4))


def test_concat_embed_with_hash_embeddings(build):
    tok2vec = {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy-elmo.ElmoConcatEmbed.v1", "width": 24,
            "elmo": _listener(),
            "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 24,
                      "attrs": ["NORM", "SHAPE"], "rows": [500, 100],
                      "include_static_vectors": False},
        },
        "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 24, "depth": 1,
                   "window_size": 1, "maxout_pieces": 3},
    }
    nlp = build(tok2vec=tok2vec)
    assert nlp.get_pipe("elmo").listening_components == ["tagger"]
    assert _train(nlp, steps=60)["tagger"] < 0.05


def test_standalone_elmo_inside_one_component(tiny_files, tmp_path):
    options_file, weights_file = tiny_files
    elmo_model = model_config_from_options(read_options(options_file))
    tok2vec = {"@architectures": "spacy-elmo.ElmoStandalone.v1", "dropout": 0.0,
               "weights": str(weights_file), "elmo": elmo_model}
    nlp = spacy.blank("en")
    tagger = nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2",
                                                      "tok2vec": tok2vec}})
    for _, tags in TRAIN:
        for tag in tags:
            tagger.add_label(tag)
    nlp.initialize(lambda: _examples(nlp))
    # the standalone biLM holds the loaded weights: its untrained mix is the plain average
    from spacy_elmo import load_allennlp

    reference = load_allennlp(*tiny_files).embed([["Eat", "blue", "ham"]])[0].mean(axis=0)
    found = tagger.model.get_ref("tok2vec").predict([nlp.make_doc("Eat blue ham")])[0]
    numpy.testing.assert_allclose(found, reference, atol=1e-5)
    assert _train(nlp, steps=160)["tagger"] < 0.1
    nlp.to_disk(tmp_path / "p")
    weights_file.rename(tmp_path / "moved.hdf5")  # the saved pipeline must not need it
    try:
        reloaded = spacy.load(tmp_path / "p")
        assert [t.tag_ for t in reloaded("Eat blue ham")] == ["VB", "JJ", "NN"]
    finally:
        (tmp_path / "moved.hdf5").rename(weights_file)


def test_every_registered_name_resolves():
    from spacy.util import registry

    for name in ["spacy-elmo.ElmoModel.v2", "spacy-elmo.ElmoListener.v1", "spacy-elmo.ScalarMix.v1",
                 "spacy-elmo.ElmoStandalone.v1", "spacy-elmo.ElmoConcatEmbed.v1"]:
        assert callable(registry.architectures.get(name))
    assert "elmo" in spacy.registry.factories.get_all() or spacy.util.get_lang_class("en")
    assert Config().from_str("[x]\na = 1")["x"]["a"] == 1
