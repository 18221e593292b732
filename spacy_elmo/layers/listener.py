"""The listener: a layer of a downstream component fed by an upstream ``elmo`` component.

Contract (spaCy's Tok2VecListener, spacy-transformers' TransformerListener): during
training the ``elmo`` component runs its model once per batch and calls
``receive(batch_id, outputs, backprop)`` on every listener; the listener checks that it
is asked about the same batch and returns those outputs. At prediction time, or when
the upstream is frozen, it reads the layers stored on ``doc._.elmo`` instead.
"""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats3d

from ..data_classes import LISTENER_NAME, ElmoData, get_batch_id
from ..errors import Errors
from .torch_module import torch_module

BackpropT = Optional[Callable[[List[Floats3d]], List[Doc]]]


class ElmoListener(Model):
    """Model[List[Doc], List[ElmoData]]: the upstream component's outputs for these docs.

    The output type equals the ``elmo`` model's, so ``nlp.replace_listeners`` can put a
    copy of that model in this layer's place.
    """

    name = LISTENER_NAME

    def __init__(self, upstream_name: str, width: Optional[int], n_layers: int) -> None:
        Model.__init__(self, name=self.name, forward=_listener_forward, init=_listener_init,
                       dims={"nO": width}, attrs={"n_layers": n_layers})
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[ElmoData]] = None
        self._backprop: BackpropT = None
        self._linked: Optional[str] = None
        # the sample batch of initialize(): zeros stand in for its missing ELMo data
        self._init_batch_id: Optional[int] = None

    def link(self, upstream: str, width: int, n_layers: int) -> None:
        """Called by the upstream component when it adopts this listener: check widths."""
        if self.has_dim("nO") and self.get_dim("nO") != width:
            raise ValueError(Errors.E201.format(
                upstream=upstream, width=width, found=self.get_dim("nO")))
        if self.attrs["n_layers"] != n_layers:
            raise ValueError(Errors.E202.format(
                upstream=upstream, n_layers=n_layers, found=self.attrs["n_layers"]))
        if not self.has_dim("nO"):
            self.set_dim("nO", width)
        self._linked = upstream

    def receive(self, batch_id: int, outputs: List[ElmoData], backprop: BackpropT) -> None:
        self._batch_id, self._outputs, self._backprop = batch_id, outputs, backprop

    def has_outputs_for(self, docs: List[Doc]) -> bool:
        return self._outputs is not None and self._batch_id == get_batch_id(docs)


def _listener_init(model: ElmoListener, X=None, Y=None) -> None:
    if model._linked is None:
        raise ValueError(Errors.E200.format(upstream=model.upstream_name))
    if X is not None:
        model._init_batch_id = get_batch_id(X)


def _listener_forward(
    model: ElmoListener, docs: List[Doc], is_train: bool
) -> Tuple[List[ElmoData], Callable]:
    if model.has_outputs_for(docs):
        outputs, upstream_backprop = model._outputs, model._backprop
    elif is_train and model._outputs is not None:
        raise ValueError(Errors.E203.format(upstream=model.upstream_name))
    else:
        outputs, upstream_backprop = _from_docs(model, docs, is_train), None

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        if upstream_backprop is not None:
            upstream_backprop(d_outputs)
        return docs

    return outputs, backprop


def _from_docs(model: ElmoListener, docs: List[Doc], is_train: bool) -> List[ElmoData]:
    """All L+1 layers from ``doc._.elmo`` as float32 arrays of this model's ops."""
    n_layers = model.attrs["n_layers"]
    sample = not is_train and model._init_batch_id == get_batch_id(docs)
    outputs = []
    for doc in docs:
        data = doc._.elmo if Doc.has_extension("elmo") else None
        if data is None:
            if len(doc) == 0 or sample:
                layers = model.ops.alloc3f(n_layers, len(doc), model.get_dim("nO"))
                outputs.append(ElmoData(layers, tuple(range(n_layers))))
                continue
            raise ValueError(Errors.E204.format(upstream=model.upstream_name, text=doc.text[:40]))
        if tuple(data.layer_ids) != tuple(range(n_layers)):
            raise ValueError(Errors.E205.format(found=list(data.layer_ids), n_layers=n_layers))
        layers = model.ops.asarray3f(data.layers.astype("float32", copy=False))
        outputs.append(ElmoData(layers, data.layer_ids))
    return outputs


def elmo_layers() -> Model[List[ElmoData], List[Floats3d]]:
    """Unwrap each doc's ElmoData into its (L+1, n, 2P) layers; gradients pass through."""
    return Model("elmo-layers", _layers_forward)


def _layers_forward(
    model: Model, datas: List[ElmoData], is_train: bool
) -> Tuple[List[Floats3d], Callable]:
    def backprop(d_layers: List[Floats3d]) -> List[Floats3d]:
        return d_layers

    return [data.layers for data in datas], backprop


def replace_listener(copied: Model, listener: Model, pipe) -> Model:
    """``nlp.replace_listeners`` hook of the ``elmo`` model: Thinc's ``copy`` keeps the
    layers but not the references, so point them at the copied biLM layer again; the
    ``elmo`` component (``pipe``) then rewrites the listener's config block so that the
    saved pipeline rebuilds these layers (``Elmo.write_replaced_config``)."""
    bilm_layer = copied.layers[0]
    copied.set_ref("bilm", bilm_layer)
    write_config = getattr(pipe, "write_replaced_config", None)
    if write_config is not None:
        write_config(listener)
    return copied


def learned_mixes(nlp) -> dict:
    """{component: [{"weights": softmax(s) per layer, "gamma": gamma}, ...]} for every
    ELMo scalar mix in a pipeline's models (listeners' and standalone ones)."""
    found = {}
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if not isinstance(model, Model):
            continue
        mixes = [node for node in model.walk() if node.name == "elmo-scalar-mix"]
        if mixes:
            found[name] = [_mix_values(node) for node in mixes]
    return found


def _mix_values(node: Model) -> dict:
    module = torch_module(node)  # the torch ScalarMix
    return {"weights": [float(w) for w in module.normalized_weights().detach().cpu()],
            "gamma": float(module.gamma.detach().cpu()[0])}
