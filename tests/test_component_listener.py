"""The listener plumbing of the "elmo" component (update/receive), fine-tuning, ScalarMix."""
import numpy
import pytest
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Model, SGD

from spacy_elmo import BiLM, load_allennlp
from spacy_elmo.architectures import build_scalar_mix
from spacy_elmo.nn.chars import sentences_to_char_ids
from spacy_elmo.data_classes import LISTENER_NAME, get_batch_id
from spacy_elmo.layers import get_bilm

from .component_helpers import TEXTS


class FakeListener(Model):
    """Records what the component sends (the issue-4 listener does more with it)."""

    def __init__(self, upstream_name: str = "*") -> None:
        super().__init__(LISTENER_NAME, lambda model, X, is_train: (X, lambda d: d),
                         dims={"nO": None})
        self.upstream_name = upstream_name
        self.received = []

    def receive(self, batch_id, outputs, backprop) -> None:
        self.received.append((batch_id, outputs, backprop))


class ListenerUser:
    def __init__(self, name: str, upstream_name: str) -> None:
        self.name = name
        self.model = FakeListener(upstream_name)

    def __call__(self, doc: Doc) -> Doc:
        return doc


@Language.factory("test_elmo_listener_user", default_config={"upstream_name": "*"})
def make_listener_user(nlp: Language, name: str, upstream_name: str) -> ListenerUser:
    return ListenerUser(name, upstream_name)


@pytest.fixture
def with_listeners(make_nlp):
    """A pipeline with elmo and two downstream listener users; returns (nlp, listeners)."""
    def build(n: int = 1, **settings):
        nlp = make_nlp(**settings)
        users = [nlp.add_pipe("test_elmo_listener_user", name=f"user{i}") for i in range(n)]
        return nlp, [user.model for user in users]
    return build


def _examples(nlp, texts=TEXTS[:3]):
    return [Example(doc, doc.copy()) for doc in map(nlp.make_doc, texts)]


def _update(nlp, examples, sgd=None, grads=None):
    """elmo.update, then each listener answers with ``grads`` (default: ones) in order."""
    elmo = nlp.get_pipe("elmo")
    losses = elmo.update(examples, sgd=sgd)
    for listener in elmo.listeners:
        batch_id, outputs, backprop = listener.received[-1]
        backprop(grads if grads is not None else [numpy.ones_like(o.layers) for o in outputs])
    return losses


def test_listeners_of_later_components_are_found(with_listeners, make_nlp):
    nlp, (listener,) = with_listeners()
    elmo = nlp.get_pipe("elmo")
    assert elmo.listener_map == {"user0": [listener]}
    assert listener.get_dim("nO") == 16
    nlp.add_pipe("test_elmo_listener_user", name="other", config={"upstream_name": "tok2vec"})
    assert elmo.listening_components == ["user0"]
    assert elmo.remove_listener(listener, "user0") and elmo.listener_map == {}


def test_update_sends_all_layers_and_the_batch_id(with_listeners):
    nlp, (listener,) = with_listeners()
    examples = _examples(nlp)
    nlp.get_pipe("elmo").update(examples)
    batch_id, outputs, backprop = listener.received[-1]
    docs = [eg.predicted for eg in examples]
    assert batch_id == get_batch_id(docs) and callable(backprop)
    for data, doc in zip(outputs, docs):
        assert data.layer_ids == (0, 1, 2) and data.layers.dtype == numpy.float32
        numpy.testing.assert_allclose(data.layers, nlp(doc.text)._.elmo_layers, atol=1e-6)


def test_update_without_listeners_does_nothing(make_nlp):
    nlp = make_nlp()
    assert nlp.get_pipe("elmo").update(_examples(nlp)) == {"elmo": 0.0}


def test_predict_tells_listeners_without_backprop(with_listeners):
    nlp, (listener,) = with_listeners()
    doc = nlp("Some text here")
    batch_id, outputs, backprop = listener.received[-1]
    assert backprop is None and batch_id == get_batch_id([doc])
    numpy.testing.assert_array_equal(outputs[0].layers, doc._.elmo_layers)


def test_frozen_biLM_stays_byte_identical(with_listeners):
    nlp, _ = with_listeners(2)
    elmo = nlp.get_pipe("elmo")
    before = elmo.model.to_bytes()
    examples = _examples(nlp)
    losses = _update(nlp, examples, sgd=SGD(0.5, use_averages=False))
    elmo.finish_update(SGD(0.5, use_averages=False))
    assert elmo.model.to_bytes() == before
    n_values = sum(3 * len(eg.predicted) * 16 for eg in examples)
    assert losses["elmo"] == pytest.approx(2 * n_values)  # two listeners, gradients of ones


def _grads(outputs, seed=0):
    rng = numpy.random.default_rng(seed)
    return [rng.normal(size=o.layers.shape).astype("float32") for o in outputs]


def test_fine_tune_gradients_match_torch_autograd(with_listeners, tiny_files):
    nlp, (listener,) = with_listeners(model={"fine_tune": True})
    examples = _examples(nlp, TEXTS[:3])
    nlp.get_pipe("elmo").update(examples)
    _, outputs, backprop = listener.received[-1]
    grads = _grads(outputs)
    backprop(grads)
    ours = dict(get_bilm(nlp.get_pipe("elmo").model).named_parameters())
    # Independent route: char ids with boundaries through BiLM.forward and autograd.
    reference = load_allennlp(*tiny_files, requires_grad=True)
    sentences = [[t.text for t in eg.predicted] for eg in examples]
    layers, _, _ = reference(torch.from_numpy(sentences_to_char_ids(sentences)))
    loss = sum((layers[:, b, 1 : len(s) + 1] * torch.from_numpy(g)).sum()
               for b, (s, g) in enumerate(zip(sentences, grads)))
    loss.backward()
    for name, param in reference.named_parameters():
        numpy.testing.assert_allclose(ours[name].grad.numpy(), param.grad.numpy(), atol=1e-5,
                                      err_msg=name)


def test_fine_tuned_weights_change_the_predictions(with_listeners, tiny_options):
    nlp, (listener,) = with_listeners(model={"fine_tune": True})
    elmo = nlp.get_pipe("elmo")
    text = TEXTS[0]
    before = nlp(text)._.elmo_layers.copy()  # also fills the token cache
    _update(nlp, _examples(nlp, [text]), sgd=SGD(0.05, grad_clip=0.0, use_averages=False))
    after = nlp(text)._.elmo_layers
    assert numpy.abs(after - before).max() > 1e-4
    # A new BiLM with the updated weights has no cache that could be stale.
    fresh = BiLM(tiny_options)
    fresh.load_state_dict(get_bilm(elmo.model).state_dict())
    expected = fresh.embed([[t.text for t in nlp.make_doc(text)]])[0]
    numpy.testing.assert_allclose(after, expected, atol=1e-5)


def test_after_an_update_step_predictions_equal_a_fresh_components(with_listeners, make_nlp):
    """Issue 21: a fine-tuning step changes the weights; the next predictions equal
    those of a new component loaded with the same weights (nothing derived is stale)."""
    nlp, _ = with_listeners(model={"fine_tune": True})
    elmo = nlp.get_pipe("elmo")
    texts = TEXTS[:4]
    before = [doc._.elmo_layers.copy() for doc in nlp.pipe(texts)]  # fills every cache
    _update(nlp, _examples(nlp), sgd=SGD(0.05, grad_clip=0.0, use_averages=False))
    after = [doc._.elmo_layers.copy() for doc in nlp.pipe(texts)]
    fresh = make_nlp(model={"fine_tune": True})
    fresh.get_pipe("elmo").from_bytes(elmo.to_bytes())
    for got, was, want in zip(after, before, (doc._.elmo_layers for doc in fresh.pipe(texts))):
        assert numpy.abs(got - was).max() > 1e-4
        numpy.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_predicting_while_a_backward_pass_is_pending(with_listeners, tiny_options):
    # spaCy's Language.update calls elmo.finish_update before the listeners backpropagate;
    # an annotating elmo then predicts in between.
    nlp, (listener,) = with_listeners(model={"fine_tune": True})
    elmo, text = nlp.get_pipe("elmo"), TEXTS[0]
    sgd = SGD(0.05, grad_clip=0.0, use_averages=False)
    _update(nlp, _examples(nlp, [text]))  # gradients, not applied yet
    elmo.update(_examples(nlp, [text]))  # a second graph, backward still to come
    elmo.finish_update(sgd)
    fresh = BiLM(tiny_options)
    fresh.load_state_dict(get_bilm(elmo.model).state_dict())
    expected = fresh.embed([[t.text for t in nlp.make_doc(text)]])[0]
    numpy.testing.assert_allclose(nlp(text)._.elmo_layers, expected, atol=1e-5)
    _, outputs, backprop = listener.received[-2]  # [-1] is the prediction's
    backprop([numpy.ones_like(o.layers) for o in outputs])  # the graph is still valid
    elmo.finish_update(sgd)
    fresh.load_state_dict(get_bilm(elmo.model).state_dict())
    expected = fresh.embed([[t.text for t in nlp.make_doc(text)]])[0]
    numpy.testing.assert_allclose(nlp(text)._.elmo_layers, expected, atol=1e-5)


def test_two_listeners_accumulate_into_one_step(with_listeners):
    grads = None
    results = []
    for n_listeners, scale in [(2, 1.0), (1, 2.0)]:
        nlp, _ = with_listeners(n_listeners, model={"fine_tune": True})
        examples = _examples(nlp)
        elmo = nlp.get_pipe("elmo")
        elmo.update(examples)
        outputs = elmo.listeners[0].received[-1][1]
        grads = _grads(outputs) if grads is None else grads
        for listener in elmo.listeners:
            listener.received[-1][2]([g * scale for g in grads])
        elmo.finish_update(SGD(0.01, grad_clip=0.0, use_averages=False))
        results.append(get_bilm(elmo.model).lstm.layers[0].w_input.detach().clone())
    torch.testing.assert_close(results[0], results[1], atol=1e-7, rtol=1e-6)


def test_a_copied_model_runs_its_own_biLM(make_nlp):
    # nlp.replace_listeners copies the model; Thinc's copy keeps no refs.
    model = make_nlp().get_pipe("elmo").model
    copied = model.copy()
    assert get_bilm(copied) is not get_bilm(model)
    docs = [Doc(Vocab(), words=["a", "b", "c"])]
    numpy.testing.assert_array_equal(copied.predict(docs)[0].layers, model.predict(docs)[0].layers)
    with torch.no_grad():
        get_bilm(copied).lstm.layers[0].bias.add_(1.0)  # seen: no notice needed
    assert numpy.abs(copied.predict(docs)[0].layers - model.predict(docs)[0].layers).max() > 1e-3


def test_scalar_mix_layer_values_and_gradients():
    mix = build_scalar_mix(3, weights=[0.0, 0.0, float(numpy.log(2.0))], gamma=2.0)
    rng = numpy.random.default_rng(0)
    Xs = [rng.normal(size=(3, n, 4)).astype("float32") for n in (5, 0, 2)]
    Ys, backprop = mix.begin_update(Xs)
    # softmax([0, 0, ln 2]) = [1/4, 1/4, 1/2]; times gamma 2
    factors = numpy.asarray([0.5, 0.5, 1.0], dtype="float32")[:, None, None]
    for X, Y in zip(Xs, Ys):
        numpy.testing.assert_allclose(Y, (factors * X).sum(axis=0), atol=1e-6)
    dXs = backprop([numpy.ones_like(Y) for Y in Ys])
    for X, dX in zip(Xs, dXs):
        numpy.testing.assert_allclose(dX, factors * numpy.ones_like(X), atol=1e-6)
    before = mix.to_bytes()
    mix.finish_update(SGD(0.1, use_averages=False))
    assert mix.to_bytes() != before
