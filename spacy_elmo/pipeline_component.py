"""The ``elmo`` pipeline component: runs the biLM, stores its layers on ``doc._.elmo``.

Downstream components can train on the biLM through listener layers (the contract of
spaCy's Tok2Vec and spacy-transformers' Transformer): ``update`` runs the model once per
batch and hands the outputs and a backprop callback to every listener.
"""
import multiprocessing
import warnings
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from .architectures import standalone_config  # registers spacy-elmo.ElmoModel.v2
from .data_classes import LISTENER_NAME, ElmoData, StoredForm, get_batch_id, gradient_arrays
from .errors import Errors, Warnings
from .extensions import add_vector_hooks, install_extensions
from .layers import ElmoSettings, get_bilm, predict_stored
from .model_config import model_config_from_options
from .nn import published_options
from .pipeline_files import init_bilm_from
from .torch_files import UnsafeFileError

# The component's own settings; its [elmo.model] block is written from the published
# "original" options and the model's run settings, so no default is written twice.
_SETTINGS_STR = """
[elmo]
layer_weights = null
gamma = 1.0
store_layers = null
dtype = "float32"
set_doc_vectors = false
"""
DEFAULT_CONFIG = Config({"elmo": {
    **Config().from_str(_SETTINGS_STR)["elmo"],
    "model": {**model_config_from_options(published_options("original")), **asdict(ElmoSettings())},
}})
DTYPES = ("float32", "float16")
# First bytes of a msgpack map (fixmap 0x80-0x8f, map 16, map 32): a Thinc model's bytes.
_MSGPACK_MAP_STARTS = {bytes([b]) for b in range(0x80, 0x90)} | {b"\xde", b"\xdf"}


@Language.factory(
    "elmo",
    assigns=["doc._.elmo", "doc._.elmo_layers", "doc._.elmo_vectors", "token._.elmo_vector",
             "span._.elmo_vector"],
    default_config=DEFAULT_CONFIG["elmo"],
)
def make_elmo(
    nlp: Language, name: str, model: Model[List[Doc], List[ElmoData]],
    layer_weights: Optional[List[float]], gamma: float, store_layers: Optional[List[int]],
    dtype: str, set_doc_vectors: bool,
) -> "Elmo":
    """Contextual ELMo vectors on every doc, token and span; features for listeners.

    model (Model[List[Doc], List[ElmoData]]): "spacy-elmo.ElmoModel.v2".
    layer_weights (Optional[List[float]]): the fixed mix w_j of doc._.elmo_vectors =
        gamma * sum_j w_j h_j, used as given (not a softmax); null: the plain average of
        all L+1 layers. [0, 0, 1] keeps the top layer. null.
    gamma (float): scale of the mix. 1.0.
    store_layers (Optional[List[int]]): the layers kept in doc._.elmo_layers; null: all
        L+1 (listeners need all of them); []: only the mix. null.
    dtype (str): "float32" or "float16" for everything stored on the doc. "float32".
    set_doc_vectors (bool): also set doc.tensor and hooks so that token/span/doc .vector
        and .similarity use the mix. false.
    The biLM's weights come from [initialize.components.elmo] weights, or with the
    component (spacy.load, source=). A biLM that never received weights refuses to run;
    set allow_random_weights = true in the model block ([components.elmo.model]) to run
    its random initialization on purpose (tests, training from scratch).
    """
    return Elmo(
        nlp.vocab, model, name=name, layer_weights=layer_weights, gamma=gamma,
        store_layers=store_layers, dtype=dtype, set_doc_vectors=set_doc_vectors, nlp=nlp,
    )


class Elmo(TrainablePipe):
    """The ``elmo`` component (see ``make_elmo`` for the settings)."""

    def __init__(
        self, vocab: Vocab, model: Model[List[Doc], List[ElmoData]], name: str = "elmo", *,
        layer_weights: Optional[Sequence[float]] = None, gamma: float = 1.0,
        store_layers: Optional[Sequence[int]] = None, dtype: str = "float32",
        set_doc_vectors: bool = False, nlp: Optional[Language] = None,
    ) -> None:
        self.vocab, self.model, self.name = vocab, model, name
        # the pipeline whose config nlp.replace_listeners edits (write_replaced_config)
        self._nlp = _PipelineRef(nlp)
        n_layers = model.attrs["n_output_layers"]
        if dtype not in DTYPES:
            raise ValueError(Errors.E100.format(name=name, dtype=dtype))
        if layer_weights is not None and len(layer_weights) != n_layers:
            raise ValueError(Errors.E101.format(
                name=name, found=len(layer_weights), expected=n_layers))
        stored = tuple(range(n_layers)) if store_layers is None else tuple(store_layers)
        if any(not 0 <= int(j) < n_layers for j in stored):
            raise ValueError(Errors.E102.format(name=name, layers=list(stored), last=n_layers - 1))
        uniform = [1.0 / n_layers] * n_layers
        self.mix_weights = numpy.asarray(
            uniform if layer_weights is None else layer_weights, dtype="float32")
        self.gamma, self.store_layers, self.dtype = float(gamma), stored, dtype
        self.stored_form = StoredForm(
            stored, tuple(float(w) for w in self.mix_weights), self.gamma, dtype)
        self.set_doc_vectors = bool(set_doc_vectors)
        # Written by to_disk for inspection; never read back: the config always wins.
        self.cfg: Dict[str, Any] = {
            "layer_weights": None if layer_weights is None else [float(w) for w in layer_weights],
            "gamma": self.gamma, "store_layers": None if store_layers is None else list(stored),
            "dtype": dtype, "set_doc_vectors": self.set_doc_vectors,
        }
        self.listener_map: Dict[str, List[Model]] = {}
        install_extensions()

    # -- listeners -------------------------------------------------------------------
    @property
    def listeners(self) -> List[Model]:
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: Model, component_name: str) -> None:
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)
        if hasattr(listener, "link"):
            # checks the listener's width and layer count against ours
            listener.link(self.name, self.model.get_dim("nO"), self.model.attrs["n_output_layers"])
        elif self.model.has_dim("nO") and listener.has_dim("nO") is None:
            listener.set_dim("nO", self.model.get_dim("nO"))

    def remove_listener(self, listener: Model, component_name: str) -> bool:
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            return True
        return False

    def write_replaced_config(self, listener: Model) -> None:
        """Called for each listener ``nlp.replace_listeners`` replaces by a copy of our
        model. spaCy has written our model block where the listener's architecture was,
        which would rebuild a bare biLM on load ("mismatched structure"); write there
        instead the "spacy-elmo.ElmoStandalone.v1" block that builds the layers now in
        place (the biLM copy, then the listener's own mix and dropout)."""
        nlp = self._nlp()
        if nlp is not None and self.name in nlp.component_names and nlp.get_pipe(self.name) is self:
            model_config = nlp.get_pipe_config(self.name)["model"]
            block = standalone_config(model_config, getattr(listener, "mix_settings", {}))
            for component, listeners in self.listener_map.items():
                if listener in listeners and component in nlp.component_names:
                    if _replace_first(nlp.get_pipe_config(component), model_config, block):
                        return
        # sourced into another pipeline: the config spaCy edited is not the one we know
        warnings.warn(Warnings.W114.format(name=self.name))

    def find_listeners(self, component) -> None:
        """Add the listener layers of ``component`` whose upstream_name is "*" or ours."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if node.name == LISTENER_NAME and getattr(node, "upstream_name", None) in names:
                    self.add_listener(node, component.name)

    # -- prediction ------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[ElmoData]:
        """All L+1 layers of each doc when listeners take them; otherwise only what is
        stored (``stored_form``), computed window by window (bounded memory on long docs)."""
        docs = list(docs)
        if not self.listeners:
            return predict_stored(self.model, docs, self.stored_form)
        outputs = self.model.predict(docs)
        batch_id = get_batch_id(docs)
        for listener in self.listeners:
            listener.receive(batch_id, outputs, None)
        return outputs

    def set_annotations(self, docs: Iterable[Doc], outputs: List[ElmoData]) -> None:
        """Store ``outputs`` (model outputs, or ``predict``'s already stored form).

        With set_doc_vectors, doc.tensor holds the mix and vector hooks are added, except
        in a process multiprocessing started (an ``nlp.pipe(n_process=N)`` worker): its
        docs go back to the parent through Doc.to_bytes, which cannot carry hooks (spaCy
        warns W109 and drops them). Call ``add_vector_hooks(doc)`` on the docs received."""
        for doc, data in zip(docs, outputs):
            stored = data if data.vectors is not None else self._to_storage(data)
            doc._.elmo = stored
            if self.set_doc_vectors:
                doc.tensor = stored.vectors
                if multiprocessing.parent_process() is None:
                    add_vector_hooks(doc)

    def _to_storage(self, data: ElmoData) -> ElmoData:
        """numpy arrays in the storage dtype, the chosen layers, and the fixed mix."""
        return self.stored_form(self.model.ops.to_numpy(data.layers))

    # -- training --------------------------------------------------------------------
    def update(
        self, examples: Iterable[Example], *, drop: float = 0.0,
        sgd: Optional[Optimizer] = None, losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the model once and pass outputs + backprop to the listeners.

        All listeners but the last get a callback that only accumulates their gradients;
        the last one's callback adds its own, backpropagates the sum into the biLM (a
        no-op unless the model was built with fine_tune = true) and, given ``sgd``,
        updates the weights. losses[name] sums the squared gradients received.
        """
        validate_examples(examples, "Elmo.update")
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        if not self.listeners:
            return losses
        set_dropout_rate(self.model, drop)
        outputs, bp_outputs = self.model.begin_update(docs)
        fine_tune = self.model.attrs["settings"].fine_tune
        accumulated: List[Any] = []

        def accumulate_gradient(d_outputs) -> List[Doc]:
            for i, d_layers in enumerate(gradient_arrays(d_outputs)):
                losses[self.name] += float((d_layers ** 2).sum())
                if not fine_tune:  # a frozen biLM needs no gradient
                    continue
                if i >= len(accumulated):
                    accumulated.append(d_layers.copy())
                else:
                    accumulated[i] += d_layers
            return docs

        def backprop(d_outputs) -> List[Doc]:
            accumulate_gradient(d_outputs)
            d_docs = bp_outputs(list(accumulated))
            accumulated.clear()
            if sgd is not None:
                self.finish_update(sgd)
            return d_docs

        batch_id = get_batch_id(docs)
        for listener in self.listeners[:-1]:
            listener.receive(batch_id, outputs, accumulate_gradient)
        self.listeners[-1].receive(batch_id, outputs, backprop)
        return losses

    def get_loss(self, examples, scores) -> None:
        """No loss of its own: see ``update``."""

    def initialize(
        self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
        weights: Optional[Union[str, Path]] = None,
    ) -> None:
        """Load the biLM weights, then connect the listeners of later components.

        weights (Optional[Union[str, Path]]): a weights.hdf5 in the original format (the
            model config gives the options), a directory with options.json + weights.hdf5
            (also under final/, as pretraining writes it), an ELMoForManyLangs model
            folder (with a "spacy-elmo.ElmoModel.v2" model, token_encoder "efml"), or a
            spaCy pipeline directory with an elmo component. Options found there must match the model config.
            None: keep the weights the biLM has (sourced or loaded); a biLM that never
            received weights refuses to run (E120) unless the model config sets
            allow_random_weights = true.
        """
        validate_get_examples(get_examples, "Elmo.initialize")
        if nlp is not None:
            self._nlp = _PipelineRef(nlp)
        self.model.initialize()
        bilm = get_bilm(self.model)
        if weights is not None:
            init_bilm_from(bilm, weights, name=self.name)
        elif not bilm.weights_loaded and not self.model.attrs["settings"].allow_random_weights:
            warnings.warn(Warnings.W111.format(name=self.name))
        if nlp is not None:
            names = [name for name, _ in nlp.pipeline]
            if self.name in names:
                for _, proc in nlp.pipeline[names.index(self.name) :]:
                    self.find_listeners(proc)

    # -- serialization: weights live in the model bytes (options come from config) ----
    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "Elmo":
        deserialize = {
            "vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude),
            "model": lambda b: self._load_model(b, "<bytes>"),
        }
        util.from_bytes(bytes_data, deserialize, exclude)
        return self

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "Elmo":
        deserialize = {
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "model": self._load_model_file,
        }
        util.from_disk(path, deserialize, exclude)
        return self

    def _load_model_file(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(Errors.E108.format(name=self.name, path=path))
        self._load_model(path.read_bytes(), path)

    def _load_model(self, data: bytes, source: Union[str, Path]) -> None:
        """Load the model bytes; a bad file is E109 (E500 for pickled objects), while
        any other exception (a bug, not a bad file) propagates as itself.

        What means "bad file" is ValueError only: msgpack's errors, Thinc's structure
        checks, ``torch_files`` (unreadable torch data, state dicts that do not match
        the model). The one case Thinc does not check, msgpack holding something other
        than a map, is refused here first (a map's first byte says so)."""
        if data[:1] not in _MSGPACK_MAP_STARTS:
            error = "not a serialized Thinc model (msgpack map)"
            raise ValueError(Errors.E109.format(name=self.name, path=source, error=error))
        try:
            self.model.from_bytes(data)
        except UnsafeFileError as err:  # pickled objects: refused, nothing was run
            raise UnsafeFileError(source, err.reason) from None
        except ValueError as err:
            raise ValueError(Errors.E109.format(name=self.name, path=source, error=err)) from err


class _PipelineRef:
    """A weak reference to a pipeline that pickles (as a dead one: a pickled component,
    e.g. for spawned n_process workers, has no pipeline config to edit)."""

    def __init__(self, nlp: Optional[Language] = None) -> None:
        self._ref = None if nlp is None else weakref.ref(nlp)

    def __call__(self) -> Optional[Language]:
        return None if self._ref is None else self._ref()

    def __reduce__(self):
        return (_PipelineRef, ())


def _replace_first(config: Dict[str, Any], target: Any, value: Any) -> bool:
    """Put ``value`` at the first place of ``config`` (nested dicts) that holds the
    object ``target`` itself; whether there was one."""
    for key, item in config.items():
        if item is target:
            config[key] = value
            return True
        if isinstance(item, dict) and _replace_first(item, target, value):
            return True
    return False
