"""Batched, cached inference over token lists with a ``BiLM``."""
from collections import OrderedDict
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import numpy
import torch

from ..errors import Errors
from .derived import DerivedValues
from .lexicon import BOS_KEY, EOS_KEY, Key  # noqa: F401  (cache keys of the boundaries)
from .lstm import State
from .token_table import token_table
from .windows import WINDOW_OVERLAP, Piece, plan_pieces

if TYPE_CHECKING:  # bilm imports this module (BiLM.embed): only the annotations need BiLM
    from .bilm import BiLM


class TokenCache:
    """A bounded LRU cache of token-encoder outputs, keyed by word.

    The token encoder is context-free, so repeated words are encoded once. The entries
    belong to one store of derived values (``bilm.inference_values()``, see
    ``spacy_elmo.nn.derived``) and are dropped when a lookup comes with another store:
    they never outlive the weights they were computed from.
    ``hits`` and ``misses`` count the looked-up words found and encoded.
    """

    def __init__(self, max_size: int = 100_000) -> None:
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self._vectors: "OrderedDict[Key, torch.Tensor]" = OrderedDict()
        self._owner: Optional[DerivedValues] = None

    def __getstate__(self) -> dict:
        # copies and pickles start empty: the vectors belong to the original's store
        return {**self.__dict__, "_vectors": OrderedDict(), "_owner": None}

    def lookup(
        self, bilm: "BiLM", words: Sequence[Key], derived: DerivedValues
    ) -> Dict[Key, torch.Tensor]:
        """Return {word: (P,) vector} for ``words``, encoding only the missing ones with
        ``bilm`` and the store ``derived`` its vectors belong to."""
        if derived is not self._owner:
            self._vectors.clear()
            self._owner = derived
        found = {}
        missing = []
        for word in words:
            vector = self._vectors.get(word)
            if vector is None:
                missing.append(word)
            else:
                self._vectors.move_to_end(word)
                found[word] = vector
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            found.update(_encode_words(bilm, missing, derived))
            if self.max_size > 0:
                for word in missing:
                    self._vectors[word] = found[word]
                while len(self._vectors) > self.max_size:
                    self._vectors.popitem(last=False)
        return found


# Words encoded per char-CNN call: its scratch, (words x char positions x all filters)
# floats, stays near 30 MB for the published filters (2048), whatever the batch.
ENCODE_CHUNK = 256


def _encode_words(
    bilm: "BiLM", words: List[Key], derived: DerivedValues, chunk: int = ENCODE_CHUNK
) -> Dict[Key, torch.Tensor]:
    """Token vectors of ``words``. A lone word is encoded twice over: the encoder's
    products over two or more rows use the packed weights, whose result for a row does
    not depend on the other rows, so a word's vector is the same bits whatever it was
    encoded with (which makes ``embed``'s outputs independent of how work is split)."""
    out: Dict[Key, torch.Tensor] = {}
    for start in range(0, len(words), chunk):
        part = words[start : start + chunk]
        ids = bilm.token_encoder.token_ids(part * 2 if len(part) == 1 else part)
        vectors = bilm.token_encoder(ids, derived)
        out.update(zip(part, vectors))
    return out


class Embedder:
    """Embed sentences (lists of token strings) with a ``BiLM`` in eval mode.

    batch_size (int): sentences per LSTM batch.
    stateful (bool): reproduce the original implementations: sentences are taken in the
        given order, in consecutive batches, and row k of each batch starts from the final
        LSTM state of row k of the previous batch (rows new to a batch start from the
        model's initial state). The state lives on this object, not on the model, and
        carries over to the next call. Default False: every sentence starts fresh, sorted
        by length for speed; results do not depend on batching.
    cache (TokenCache): token-encoder cache to share across calls; a private one if None.
    max_length (Optional[int]): a sentence of more tokens is cut into overlapping windows
        of this many, as the spaCy component cuts it (``nn/windows.py``; 512 there).
        None: never cut (a stateful embedder never cuts).
    window_overlap (int): tokens shared by consecutive windows (64, < max_length).

    Each call runs on the current weights: a trainable biLM's derived values (packed
    weights, token vectors) last one call; a frozen one's (``requires_grad_(False)``)
    are kept across calls until its tensors change (see ``spacy_elmo.nn.derived``).
    """

    def __init__(
        self, bilm: "BiLM", batch_size: int = 64, stateful: bool = False,
        cache: Optional[TokenCache] = None, max_length: Optional[int] = None,
        window_overlap: int = WINDOW_OVERLAP,
    ) -> None:
        self.bilm = bilm
        self.batch_size = max(1, int(batch_size))
        self.stateful = stateful
        self.cache = cache if cache is not None else TokenCache()
        self.state: Optional[List[State]] = None
        self.max_length, self.window_overlap = max_length, window_overlap

    def __call__(self, sentences: Sequence[Sequence[str]]) -> List[numpy.ndarray]:
        """(L+1, len(sentence), 2P) float32 per sentence."""
        _check_sentences(sentences)
        jobs = [job for index, sentence in enumerate(sentences)
                for job in self._plan(index, sentence)]
        outputs = self.run_sequences([keys for _, _, keys in jobs])
        results: List[Optional[numpy.ndarray]] = [None] * len(sentences)
        for (index, piece, _), layers in zip(jobs, outputs):
            if piece is None:
                results[index] = layers[:, 1:-1]
                continue
            if results[index] is None:
                n = len(sentences[index])
                results[index] = numpy.zeros(layers.shape[:1] + (n,) + layers.shape[2:], layers.dtype)
            results[index][:, piece.dst] = layers[:, piece.src]  # type: ignore[index]
        return results  # type: ignore[return-value]

    def _plan(self, index: int, sentence: Sequence[str]) -> List[Tuple[int, Optional[Piece], List[Key]]]:
        """The LM sequences of one sentence: itself in boundaries, or its windows."""
        if self.stateful or self.max_length is None or len(sentence) <= self.max_length:
            return [(index, None, [BOS_KEY, *sentence, EOS_KEY])]
        jobs = []
        for piece in plan_pieces(len(sentence), self.max_length, self.window_overlap):
            keys: List[Key] = [BOS_KEY] if piece.bos else []
            keys.extend(sentence[piece.start : piece.end])
            jobs.append((index, piece, keys + [EOS_KEY] if piece.eos else keys))
        return jobs

    def run_sequences(self, sequences: Sequence[Sequence[Key]]) -> List[numpy.ndarray]:
        """(L+1, len(keys), 2P) per LM sequence, given with its boundary keys (if any)."""
        if self.stateful:
            order = list(range(len(sequences)))
        else:
            order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        results: List[Optional[numpy.ndarray]] = [None] * len(sequences)
        was_training = self.bilm.training
        if was_training:
            self.bilm.eval()
        try:
            with torch.inference_mode():
                derived = self.bilm.inference_values()
                for start in range(0, len(order), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    layers = self._run_batch([sequences[i] for i in rows], derived)
                    for row, index in enumerate(rows):
                        results[index] = layers[:, row, : len(sequences[index])].cpu().numpy()
        finally:
            if was_training:
                self.bilm.train()
        return results  # type: ignore[return-value]

    def _run_batch(self, batch: List[Sequence[Key]], derived: DerivedValues) -> torch.Tensor:
        bilm = self.bilm
        keys, ids = token_table(batch)
        # looked up (encoded when missing) in sorted order: batch order does not matter
        words = sorted(k for k in keys if isinstance(k, str))
        vectors = self.cache.lookup(bilm, [BOS_KEY, EOS_KEY] + words, derived)
        rows = torch.stack([vectors[key] for key in keys])
        lengths = torch.tensor([len(s) for s in batch])
        state = self._batch_state(len(batch)) if self.stateful else None
        layers, _, finals = bilm.contextualize_rows(
            rows, torch.from_numpy(ids), lengths, state, derived=derived)
        if self.stateful:
            self._keep_state(finals)
        return layers

    def _batch_state(self, batch: int) -> List[State]:
        fresh = self.bilm.default_state(batch)
        if self.state is None:
            return fresh
        kept = self.state[0][0].shape[1]
        if kept >= batch:
            return [(h[:, :batch], c[:, :batch]) for h, c in self.state]
        return [
            (torch.cat([h, fh[:, kept:]], 1), torch.cat([c, fc[:, kept:]], 1))
            for (h, c), (fh, fc) in zip(self.state, fresh)
        ]

    def _keep_state(self, finals: List[State]) -> None:
        if self.state is None or self.state[0][0].shape[1] <= finals[0][0].shape[1]:
            self.state = finals
            return
        n = finals[0][0].shape[1]
        self.state = [
            (torch.cat([fh, h[:, n:]], 1), torch.cat([fc, c[:, n:]], 1))
            for (fh, fc), (h, c) in zip(finals, self.state)
        ]


def _check_sentences(sentences: Sequence[Sequence[str]]) -> None:
    for index, sentence in enumerate(sentences):
        if isinstance(sentence, str) or not all(isinstance(w, str) for w in sentence):
            raise TypeError(Errors.E011.format(index=index, found=sentence))
