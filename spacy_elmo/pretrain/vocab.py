"""The word vocabulary of the output softmax: ``<S>``, ``</S>``, ``<UNK>``, then by frequency."""
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Sequence, Tuple, Union

import numpy

from ..errors import Errors, Warnings
from ..nn.chars import BOS_TOKEN, EOS_TOKEN
from .corpus import SOTU_PREFIX, Tokenizer, count_tokens, resolve_paths

if TYPE_CHECKING:
    from .config import PretrainSettings

UNK_TOKEN = "<UNK>"
SPECIALS = (BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)


class Vocab:
    """Token <-> id for the softmax. Ids 0, 1, 2 are ``<S>``, ``</S>``, ``<UNK>``; the
    other words follow in order of decreasing frequency, which the log-uniform sampler
    of the sampled softmax relies on."""

    def __init__(self, words: Iterable[str]) -> None:
        words = [w for w in words if w not in SPECIALS]
        self.words: List[str] = list(SPECIALS) + words
        self.index: Dict[str, int] = {w: i for i, w in enumerate(self.words)}
        self.unk_id = self.index[UNK_TOKEN]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def ids(self, tokens: Sequence[str]) -> numpy.ndarray:
        """int64 ids of ``tokens``, ``<UNK>`` for words outside the vocabulary."""
        get, unk = self.index.get, self.unk_id
        return numpy.fromiter((get(t, unk) for t in tokens), dtype=numpy.int64, count=len(tokens))

    def to_disk(self, path: Union[str, Path]) -> None:
        """One token per line, the specials first (bilm-tf's vocab file layout)."""
        Path(path).write_text("".join(w + "\n" for w in self.words), encoding="utf8")

    @classmethod
    def from_disk(cls, path: Union[str, Path]) -> "Vocab":
        lines = Path(path).read_text(encoding="utf-8-sig").split("\n")
        lines = lines[:-1] if lines and lines[-1] == "" else lines
        for number, expected in enumerate(SPECIALS):
            found = lines[number] if number < len(lines) else ""
            if found != expected:
                raise ValueError(Errors.E309.format(
                    path=path, line=number + 1, expected=expected, found=found))
        return cls(lines[len(SPECIALS):])


def build_vocab(counts: Counter, size: int, min_count: int = 1, warn: bool = True) -> Vocab:
    """The ``size`` most frequent tokens seen at least ``min_count`` times, plus the specials.

    Ties are broken alphabetically so the vocabulary is reproducible. A corpus with fewer
    distinct tokens than ``size`` gives a warning and the smaller vocabulary.
    """
    candidates = [(w, c) for w, c in counts.items() if c >= min_count and w not in SPECIALS]
    if warn and len(candidates) < size:
        warnings.warn(Warnings.W308.format(found=len(candidates), requested=size))
    candidates.sort(key=lambda item: (-item[1], item[0]))
    return Vocab(w for w, _ in candidates[:size])


def corpus_vocab(settings: "PretrainSettings") -> Tuple[Vocab, Dict[str, int]]:
    """The vocabulary of a run's training corpus ([paths] train, tokenized as [corpus]
    says, [training] vocab_size and min_count), and the corpus counts (lines, tokens).
    A corpus without a token is an error."""
    tokenizer = Tokenizer.from_settings(settings.corpus)
    counts, stats = count_tokens(resolve_paths(settings.paths.train), tokenizer)
    if not stats["tokens"]:
        raise ValueError(Errors.E307.format(paths=settings.paths.train))
    t = settings.training
    return build_vocab(counts, t.vocab_size, t.min_count), stats


def corpus_inputs(settings: "PretrainSettings") -> List[Path]:
    """The corpus ``corpus_vocab`` reads (a file or a folder; none for sotu:), so that an
    output is never written over it."""
    train = settings.paths.train
    return [] if train.startswith(SOTU_PREFIX) else [Path(train)]
