"""A bounded LRU cache of biLM outputs, one entry per LM sequence.

The biLM is stateless: an LM sequence (its token strings and boundary keys, see
``sequences.Window``) gives the same layers whatever else is run with it (up to the
rounding of batched matmuls, about 1e-7), so a frozen biLM's outputs can be computed
once and reused, e.g. for every epoch of ``spacy train``: an entry holds the exact
values of the first computation. Entries are the window's (L+1, len(keys), 2P) layers
in the cache's dtype; ``nbytes`` counts their bytes plus those of the keys and never
exceeds ``max_bytes`` (least recently used entries go first). Entries belong to one
store of values derived from the biLM's weights (``BiLM.inference_values``):
``validate`` drops them all when it is given another store, which happens whenever the
weights changed (see ``spacy_elmo.nn.derived``); ``clear`` drops them too.
"""
import sys
from collections import OrderedDict
from typing import Hashable, Optional, Tuple

from thinc.types import Floats3d

from ..errors import Errors

DTYPES = ("float32", "float16")
Key = Tuple[Hashable, ...]


class FeatureCache:
    """LRU map from an LM sequence's keys to its layers (see the module docstring)."""

    def __init__(self, max_bytes: int = 1_000_000_000, dtype: str = "float32") -> None:
        check_settings(max_bytes, dtype)
        self.max_bytes, self.dtype = int(max_bytes), dtype
        self.hits = self.misses = self.nbytes = 0
        self._entries: "OrderedDict[Key, Tuple[Floats3d, int]]" = OrderedDict()
        self._owner: Optional[object] = None

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Key) -> bool:
        return key in self._entries

    def validate(self, owner: object) -> None:
        """Drop every entry unless ``owner`` (the biLM's store of derived values) is the
        one they were computed with."""
        if owner is not self._owner:
            self.clear()
            self._owner = owner

    def get(self, key: Key) -> Optional[Floats3d]:
        """The stored layers of ``key`` (marked as recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Key, layers: Floats3d) -> None:
        """Store a copy of ``layers`` in the cache's dtype, evicting the least recently
        used entries to stay within ``max_bytes``; an entry larger than that is not kept."""
        if not self.enabled or key in self._entries:
            return
        stored = layers.astype(self.dtype, copy=True)  # a copy: never a view of a batch
        size = int(stored.nbytes) + _key_bytes(key)
        if size > self.max_bytes:
            return
        while self._entries and self.nbytes + size > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.nbytes -= evicted
        self._entries[key] = (stored, size)
        self.nbytes += size

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0

    def __getstate__(self) -> dict:
        # copies and pickles (Model.copy, n_process) start empty: entries are derived data
        state = dict(self.__dict__)
        state["_entries"], state["nbytes"], state["_owner"] = OrderedDict(), 0, None
        return state


def check_settings(max_bytes: int, dtype: str) -> None:
    """Raise E700/E701 for a budget that is not a byte count >= 0 or an unknown dtype."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, float)) \
            or int(max_bytes) != max_bytes or max_bytes < 0:
        raise ValueError(Errors.E700.format(value=max_bytes))
    if dtype not in DTYPES:
        raise ValueError(Errors.E701.format(dtype=dtype))


def _key_bytes(key: Key) -> int:
    """Memory of a key: the tuple and its strings (boundary keys are shared constants)."""
    return sys.getsizeof(key) + sum(sys.getsizeof(k) for k in key if isinstance(k, str))
