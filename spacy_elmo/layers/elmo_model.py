"""The ``elmo`` Thinc model: docs in, one ``ElmoData`` (all L+1 layers) per doc out."""
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from thinc.api import Model

from ..data_classes import ElmoData, StoredForm, gradient_arrays
from ..errors import Errors
from ..nn import BiLM, ElmoOptions
from ..nn.lexicon import BOS_KEY, EOS_KEY
from ..nn.precision import check_compute_dtype
from ..nn.windows import MAX_LENGTH, WINDOW_OVERLAP
from .bilm_layer import BiLMLayer, cached_bilm
from .feature_cache import FeatureCache, check_settings
from .listener import replace_listener
from .torch_module import one_thread_in_workers
from .sequences import Window, batches_by_length, plan_windows


@dataclass(frozen=True)
class ElmoSettings:
    """How the model runs the biLM (see ``spacy-elmo.ElmoModel.v2`` for the meanings).

    Kept in the model's attrs as an object msgpack cannot encode, so Thinc does not
    serialize it: the config given when the pipeline is built always wins.
    """

    max_length: int = MAX_LENGTH
    window_overlap: int = WINDOW_OVERLAP
    batch_size: int = 64
    max_batch_tokens: int = 4096
    fine_tune: bool = False
    feature_cache_bytes: int = 1_000_000_000
    feature_cache_dtype: str = "float32"
    allow_random_weights: bool = False
    compute_dtype: str = "float32"
    deterministic: bool = True

    def __post_init__(self) -> None:
        check_settings(self.feature_cache_bytes, self.feature_cache_dtype)
        check_compute_dtype(self.compute_dtype)
        for name in ("max_length", "batch_size", "max_batch_tokens"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(Errors.E104.format(setting=name, value=value))
        if not 0 <= self.window_overlap < self.max_length:
            raise ValueError(Errors.E103.format(
                overlap=self.window_overlap, max_length=self.max_length))


def ElmoModel(options: ElmoOptions, settings: ElmoSettings) -> Model[List[Doc], List[ElmoData]]:
    """The biLM built from ``options`` (random weights until the component's initialize).

    Unless fine-tuned, the biLM is frozen (no parameter requires grad), so the values
    derived from its weights are kept across calls while they stay true
    (``spacy_elmo.nn.derived``), and outputs of LM sequences already seen come from a
    feature cache.
    """
    budget = 0 if settings.fine_tune else settings.feature_cache_bytes  # fine-tuned: never
    features = FeatureCache(budget, settings.feature_cache_dtype)
    bilm = (BiLM(options).set_compute_dtype(settings.compute_dtype)
            .set_deterministic(settings.deterministic).requires_grad_(settings.fine_tune))
    bilm_layer = BiLMLayer(bilm, features=features)
    return Model(
        "elmo", forward, layers=[bilm_layer], refs={"bilm": bilm_layer},
        attrs={"settings": settings, "n_output_layers": options.n_output_layers,
               "replace_listener": replace_listener},
        dims={"nO": options.output_dim},
    )


def bilm_layer(model: Model) -> Model:
    """The ``BiLMLayer`` of an ``ElmoModel`` (also of a copy, which has no refs)."""
    return model.get_ref("bilm") if model.has_ref("bilm") else model.layers[0]


def get_bilm(model: Model) -> BiLM:
    """The PyTorch ``BiLM`` inside an ``ElmoModel`` (shared, not a copy)."""
    return cached_bilm(bilm_layer(model)).bilm


def feature_cache(model: Model) -> FeatureCache:
    """The cache of LM sequence outputs of an ``ElmoModel`` (empty in a copy)."""
    return cached_bilm(bilm_layer(model)).features


def forward(
    model: Model[List[Doc], List[ElmoData]], docs: List[Doc], is_train: bool
) -> Tuple[List[ElmoData], Callable]:
    settings: ElmoSettings = model.attrs["settings"]
    n_layers, width = model.attrs["n_output_layers"], model.get_dim("nO")
    train = is_train and settings.fine_tune
    layers = [model.ops.alloc3f(n_layers, len(doc), width) for doc in docs]

    def place(window: Window, output) -> None:
        src, dst = model.ops.asarray1i(window.src), model.ops.asarray1i(window.dst)
        layers[window.doc][:, dst] = output[:, src]

    callbacks = _run_windows(model, docs, train, place)
    ids = tuple(range(n_layers))
    datas = [ElmoData(doc_layers, ids) for doc_layers in layers]

    def backprop(d_datas: Sequence[ElmoData]) -> List[Doc]:
        if not train:
            return docs
        d_layers = gradient_arrays(d_datas)
        if len(d_layers) != len(docs):
            raise ValueError(Errors.E112.format(
                name=model.name, found=len(d_layers), expected=len(docs)))
        for batch, outputs, bp_outputs in callbacks:
            bp_outputs(_window_gradients(model, batch, outputs, d_layers))
        return docs

    return datas, backprop


def predict_stored(
    model: Model[List[Doc], List[ElmoData]], docs: List[Doc], form: StoredForm
) -> List[ElmoData]:
    """What ``form`` keeps of each doc's layers (numpy, its dtype), as the model's
    prediction would give after ``form`` (within float rounding of the layers' copy),
    written window by window: the (L+1, n, 2P) layers of a doc are never held at once,
    so a long doc with few stored layers needs little more memory than what is kept."""
    width = model.get_dim("nO")
    stored = [form.empty(len(doc), width) for doc in docs]

    def place(window: Window, output) -> None:
        layers = model.ops.to_numpy(output[:, model.ops.asarray1i(window.src)])
        form.write(stored[window.doc], window.dst, layers)

    _run_windows(model, docs, False, place)
    return stored


def _run_windows(
    model: Model, docs: List[Doc], train: bool, place: Callable[[Window, Any], None]
) -> list:
    """Run the biLM over the LM sequences of ``docs`` and hand each window's output
    (L+1, len(keys), 2P) to ``place``. Streamed: a batch of windows is dropped once
    placed unless ``train`` needs it for backprop, so the peak is what ``place`` keeps
    plus one batch, however long the docs. Returns the backprop callbacks (train only)."""
    one_thread_in_workers()  # before any torch op of this process (cache hits included)
    settings: ElmoSettings = model.attrs["settings"]
    check_weights(model)
    windows = plan_windows(docs, settings.max_length, settings.window_overlap)
    cache = None if train else _valid_cache(model)
    missing = windows
    if cache is not None:
        missing = []
        for window in windows:
            output = cache.get(tuple(window.keys)) if _whole(window) else None
            if output is None:
                missing.append(window)
            else:
                place(window, output)
    callbacks = []
    for batch in batches_by_length(missing, settings.batch_size, settings.max_batch_tokens):
        outputs, bp_outputs = bilm_layer(model)([w.keys for w in batch], is_train=train)
        for window, output in zip(batch, outputs):
            place(window, output)
            if cache is not None and _whole(window):
                cache.put(tuple(window.keys), output)
        if train:
            callbacks.append((batch, outputs, bp_outputs))
        del outputs, bp_outputs
    return callbacks


def check_weights(model: Model) -> None:
    """Refuse to run a biLM that never received weights (its vectors would be random)
    unless the model config sets allow_random_weights = true."""
    if not get_bilm(model).weights_loaded and not model.attrs["settings"].allow_random_weights:
        raise ValueError(Errors.E120)


def _valid_cache(model: Model) -> Optional[FeatureCache]:
    """The feature cache, emptied if the weights changed since its last use; None when
    it is disabled (budget 0, or a fine-tuned model)."""
    module = cached_bilm(bilm_layer(model))
    return module.valid_features() if module.features.enabled else None


def _whole(window: Window) -> bool:
    """Whether the window is a whole LM sequence (a sentence or a short doc), the unit the
    feature cache keeps: the parts of a long doc cut into windows are not kept, so one
    long doc never fills the cache with a copy of itself."""
    return window.keys[0] == BOS_KEY and window.keys[-1] == EOS_KEY


def _window_gradients(model: Model, batch: List[Window], outputs, d_layers) -> list:
    """Route each doc token's gradient to the window position its output came from."""
    d_outputs = []
    for window, output in zip(batch, outputs):
        d_output = model.ops.alloc3f(*output.shape)
        src, dst = model.ops.asarray1i(window.src), model.ops.asarray1i(window.dst)
        d_output[:, src] = d_layers[window.doc][:, dst]
        d_outputs.append(d_output)
    return d_outputs
