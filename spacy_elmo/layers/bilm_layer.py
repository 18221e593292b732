"""The biLM as a Thinc layer: a PyTorchWrapper over LM sequences (lists of token keys).

``BiLMLayer(bilm)``: Model[List[List[Key]], List[Floats3d]]; each input is one LM sequence
(strings, and the boundary keys ``BOS_KEY``/``EOS_KEY``), each output its (L+1, len, 2P)
layers. ``convert_inputs`` pads the sequences into a table of distinct words and a (B, T)
index; ``convert_outputs`` unpads the (L+1, B, T, 2P) result, and pads gradients back.
``forward`` is PyTorchWrapper's, written here with public API only; in a multiprocessing
worker it first sets torch to one thread (``torch_module.one_thread_in_workers``).
"""
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from thinc.api import ArgsKwargs, Model, torch2xp, xp2torch
from thinc.types import Floats3d
from torch import nn

from ..nn import BiLM, TokenCache
from ..nn.lexicon import Key
from ..nn.token_table import token_table
from ..torch_files import deserialize_state, serialize_state
from .bilm_shim import BiLMShim
from .feature_cache import FeatureCache
from .torch_module import one_thread_in_workers, torch_module

InT = List[List[Key]]
OutT = List[Floats3d]


class CachedBiLM(nn.Module):
    """A ``BiLM`` whose token-encoder outputs are cached when no gradient is needed.

    forward(words, ids (B, T), lengths (B,), dropout) -> layers (L+1, B, T, 2P), where
    ``ids`` index ``words`` from 1 (0 is padding: its token vector is zero).
    ``features`` is the cache of whole LM sequences' outputs the ``elmo`` model keeps
    (``feature_cache.FeatureCache``). Both caches belong to the biLM's store of derived
    values (``inference_values``, see ``spacy_elmo.nn.derived``): they are emptied as soon
    as a call gets another store, i.e. every call unless the biLM is frozen, and after
    any change of a frozen biLM's tensors (loading, ``use_params``, a device move).
    """

    def __init__(
        self, bilm: BiLM, cache_size: int = 100_000, features: Optional[FeatureCache] = None
    ) -> None:
        super().__init__()
        self.bilm = bilm
        self.cache = TokenCache(cache_size)
        self.features = FeatureCache(0) if features is None else features

    def forward(
        self, words: List[Key], ids: torch.Tensor, lengths: torch.Tensor, dropout: float = 0.0
    ) -> torch.Tensor:
        """The layers: with autograd when enabled, else from the caches."""
        if torch.is_grad_enabled():
            encoder = self.bilm.token_encoder
            vectors = encoder(encoder.token_ids(words))
            layers, _, _ = self.bilm.contextualize_rows(vectors, ids, lengths, dropout=dropout)
            return layers
        derived = self.bilm.inference_values()
        found = self.cache.lookup(self.bilm, words, derived)
        vectors = torch.stack([found[w] for w in words])
        layers, _, _ = self.bilm.contextualize_rows(vectors, ids, lengths, derived=derived)
        return layers

    def valid_features(self) -> FeatureCache:
        """The feature cache, emptied unless its entries come from the current store of
        derived values (the biLM frozen and unchanged since they were computed)."""
        self.features.validate(self.bilm.inference_values())
        return self.features


def BiLMLayer(
    bilm: BiLM, cache_size: int = 100_000, features: Optional[FeatureCache] = None
) -> Model[InT, OutT]:
    """Wrap ``bilm`` (as PyTorchWrapper_v3 does, with ``BiLMShim``); attrs["dropout_rate"]
    is its LSTM dropout when fine-tuned. ``features``: the sequence cache the ``elmo``
    model keeps (see ``CachedBiLM``); this layer itself always runs the biLM."""
    return Model(
        "elmo-bilm", forward,
        attrs={"convert_inputs": _convert_inputs, "convert_outputs": _convert_outputs,
               "dropout_rate": 0.0},
        shims=[BiLMShim(CachedBiLM(bilm, cache_size, features), serialize_model=serialize_state,
                        deserialize_model=deserialize_state)],
        dims={"nI": None, "nO": None},
    )


def cached_bilm(model: Model[InT, OutT]) -> CachedBiLM:
    """The module a ``BiLMLayer`` runs (an attr or ref would go stale when Thinc copies
    the layer)."""
    return torch_module(model)


def forward(model: Model[InT, OutT], X: InT, is_train: bool) -> Tuple[OutT, Callable]:
    """Convert the inputs, run the shim (with autograd when training), convert back."""
    one_thread_in_workers()
    Xtorch, get_dX = model.attrs["convert_inputs"](model, X, is_train)
    Ytorch, torch_backprop = model.shims[0](Xtorch, is_train)
    Y, get_dYtorch = model.attrs["convert_outputs"](model, (X, Ytorch), is_train)

    def backprop(dY: Any) -> Any:
        return get_dX(torch_backprop(get_dYtorch(dY)))

    return Y, backprop


def _convert_inputs(
    model: Model, sequences: InT, is_train: bool
) -> Tuple[ArgsKwargs, Callable]:
    words, ids = token_table(sequences)
    lengths = torch.tensor([len(keys) for keys in sequences], dtype=torch.int64)
    dropout = float(model.attrs["dropout_rate"] or 0.0) if is_train else 0.0
    args = (words, torch.from_numpy(ids), lengths)
    return ArgsKwargs(args=args, kwargs={"dropout": dropout}), _no_input_gradient


def _no_input_gradient(d_inputs: ArgsKwargs) -> list:
    return []


def _convert_outputs(
    model: Model, inputs_outputs: Tuple[InT, torch.Tensor], is_train: bool
) -> Tuple[OutT, Callable]:
    sequences, Ytorch = inputs_outputs
    device = Ytorch.device
    Y = torch2xp(Ytorch.detach(), ops=model.ops)  # (L+1, B, T, 2P)
    lengths = [len(keys) for keys in sequences]
    outputs = [Y[:, b, :n] for b, n in enumerate(lengths)]

    def backprop(d_outputs: Sequence[Floats3d]) -> ArgsKwargs:
        dY = model.ops.alloc4f(*Y.shape)
        for b, (n, d) in enumerate(zip(lengths, d_outputs)):
            dY[:, b, :n] = d
        dYtorch = xp2torch(dY, device=device)
        return ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors": (dYtorch,)})

    return outputs, backprop
