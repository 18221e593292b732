"""Per-doc ELMo outputs (``ElmoData``), their msgpack encoding, and the listener contract.

``ElmoData`` is what the ``elmo`` model returns for each doc and what the ``elmo``
component stores on ``doc._.elmo``. It is registered with srsly's msgpack encoders, so
``doc.to_bytes()``, ``DocBin(store_user_data=True)`` and ``nlp.pipe(n_process=2)`` keep it.
"""
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
from spacy.tokens import Doc, Token
from thinc.types import ArrayXd

# A listener is a Thinc Model named LISTENER_NAME with attributes ``upstream_name`` ("*" or
# the component's name) and ``receive(batch_id, outputs, backprop)``; see Elmo.update.
LISTENER_NAME = "elmo-listener"
_MSG_KEY = "__spacy_elmo_data__"


@dataclass
class ElmoData:
    """The ELMo outputs of one doc.

    layers (ArrayXd): (k, n_tokens, 2P): the biLM layers listed in ``layer_ids``. Model
        outputs hold all L+1 layers as float32 arrays of the model's ops (numpy or
        cupy); ``doc._.elmo`` holds numpy arrays in the component's storage dtype, and
        only the layers of its ``store_layers`` setting.
    layer_ids (Tuple[int, ...]): which layers ``layers`` holds: 0 is the context-free token
        layer [E; E], j >= 1 is LSTM layer j ([forward; backward]).
    vectors (Optional[ArrayXd]): (n_tokens, 2P): the component's fixed mix of the layers;
        None in model outputs (the component computes it in ``set_annotations``).

    Whitespace tokens are not given to the biLM: all their values are 0.
    """

    layers: ArrayXd
    layer_ids: Tuple[int, ...]
    vectors: Optional[ArrayXd] = None

    def __post_init__(self) -> None:
        self.layer_ids = tuple(int(i) for i in self.layer_ids)

    @property
    def width(self) -> int:
        """2P, the width of every layer."""
        return int(self.layers.shape[2])

    def to_msg(self) -> Dict[str, Any]:
        return {_MSG_KEY: 1, "layers": self.layers, "layer_ids": list(self.layer_ids),
                "vectors": self.vectors}

    @classmethod
    def from_msg(cls, msg: Dict[str, Any]) -> "ElmoData":
        return cls(msg["layers"], tuple(msg["layer_ids"]), msg.get("vectors"))


@dataclass(frozen=True)
class StoredForm:
    """What the ``elmo`` component keeps of a doc's L+1 layers h_j (see its settings).

    layer_ids: the layers kept; weights (L+1,) and gamma: the fixed mix
    gamma * sum_j weights[j] h_j, summed layer by layer in the order j = 0..L, so a
    token's vector does not depend on how many tokens are mixed with it (whole doc or one
    window); dtype: the storage dtype of both.
    """

    layer_ids: Tuple[int, ...]
    weights: Tuple[float, ...]
    gamma: float
    dtype: str

    def empty(self, n_tokens: int, width: int) -> ElmoData:
        """All-zero storage for a doc of ``n_tokens`` tokens (whitespace tokens stay 0)."""
        layers = numpy.zeros((len(self.layer_ids), n_tokens, width), dtype=self.dtype)
        return ElmoData(layers, self.layer_ids, numpy.zeros((n_tokens, width), dtype=self.dtype))

    def mix(self, layers: numpy.ndarray) -> numpy.ndarray:
        """(n, 2P) float32: the fixed mix of ``layers`` (L+1, n, 2P), all L+1 layers."""
        mixed = numpy.zeros(layers.shape[1:], dtype="float32")
        for weight, layer in zip(self.weights, layers):
            mixed += numpy.float32(weight) * layer.astype("float32", copy=False)
        mixed *= numpy.float32(self.gamma)
        return mixed

    def write(self, data: ElmoData, rows: Union[numpy.ndarray, slice], layers: numpy.ndarray) -> None:
        """Store the token rows ``rows`` of ``data`` from their L+1 layers (L+1, m, 2P)."""
        data.vectors[rows] = self.mix(layers)
        for k, j in enumerate(self.layer_ids):
            data.layers[k, rows] = layers[j]

    def __call__(self, layers: numpy.ndarray) -> ElmoData:
        """The stored form of a whole doc's L+1 layers (L+1, n, 2P)."""
        data = self.empty(layers.shape[1], layers.shape[2])
        self.write(data, slice(None), layers)
        return data


@srsly.msgpack_encoders("spacy_elmo.ElmoData")
def serialize_elmo_data(obj: Any, chain=None):
    if isinstance(obj, ElmoData):
        return obj.to_msg()
    return obj if chain is None else chain(obj)


@srsly.msgpack_decoders("spacy_elmo.ElmoData")
def deserialize_elmo_data(obj: Any, chain=None):
    if isinstance(obj, dict) and _MSG_KEY in obj:
        return ElmoData.from_msg(obj)
    return obj if chain is None else chain(obj)


def is_skipped(token: Token) -> bool:
    """Whitespace tokens are not given to the biLM (it never saw them in training): their
    ELMo rows are zeros."""
    return token.is_space


def get_batch_id(docs: Iterable[Doc]) -> int:
    """The id of a batch that the component and its listeners both compute."""
    return sum(sum(token.orth for token in doc) for doc in docs)


def gradient_arrays(d_outputs: Sequence[Union[ElmoData, ArrayXd]]) -> List[ArrayXd]:
    """The (L+1, n, 2P) gradients from a list of ElmoData (their ``layers``) or arrays."""
    return [d.layers if isinstance(d, ElmoData) else d for d in d_outputs]
