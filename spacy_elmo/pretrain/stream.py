"""Token streams over a corpus, with a position that can be saved and restored exactly.

The corpus is a ring: its files in order, wrapping around at the end. Row r of a global
batch of B rows starts reading at byte r/B of the ring (moved to the next line start),
so in one pass over the data each row reads its own contiguous 1/B of it, and a process
of a data-parallel run reads only the rows it owns. The forward stream of a row reads
its lines forwards, each as ``<S> w1 ... wn </S>``; the backward stream reads the same
stretch of text from its end towards its start, each line reversed
(``</S> wn ... w1 <S>``), so the backward LM's carried state always holds the text to
the *right*, the context it conditions on.

Positions are (file index, byte offset), plus the tokens read but not yet used, so a
checkpoint restores the stream to the token.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..nn.chars import BOS_TOKEN, EOS_TOKEN
from ..errors import Errors
from .corpus import Tokenizer, decode_line, strip_bom, usable_files

BLOCK = 1 << 16  # bytes read at a time by the backward reader
Position = Tuple[int, int]


@dataclass(frozen=True)
class Corpus:
    """The usable files of a corpus and their sizes (the ring the streams read)."""

    files: Tuple[Path, ...]
    sizes: Tuple[int, ...]

    @classmethod
    def from_paths(cls, paths: Sequence[Path], warn: bool = True) -> "Corpus":
        files = tuple(usable_files(list(paths), warn=warn))
        if not files:
            raise ValueError(Errors.E307.format(paths=[str(p) for p in paths][:5]))
        return cls(files, tuple(p.stat().st_size for p in files))

    def fingerprint(self) -> List[List[Any]]:
        """What a checkpoint's positions are valid for: each file and its size."""
        return [[str(path), size] for path, size in zip(self.files, self.sizes)]

    def row_starts(self, n_rows: int) -> List[Position]:
        """Where each of ``n_rows`` rows starts: evenly spaced bytes, moved to line starts."""
        total = sum(self.sizes)
        return [self._line_start(r * total // n_rows) for r in range(n_rows)]

    def _line_start(self, offset: int) -> Position:
        index = 0
        while offset >= self.sizes[index]:
            offset -= self.sizes[index]
            index += 1
        if offset == 0:
            return index, 0
        with self.files[index].open("rb") as handle:
            handle.seek(offset - 1)
            offset += len(handle.readline()) - 1  # to just after the next newline
        if offset >= self.sizes[index]:
            return (index + 1) % len(self.files), 0
        return index, offset


class ForwardLines:
    """Raw lines of the ring from a position onwards."""

    def __init__(self, corpus: Corpus, position: Position, wraps: int = 0) -> None:
        self.corpus, self.wraps = corpus, wraps
        self.file, self.offset = position
        self._handle = None

    def position(self) -> Position:
        return self.file, self.offset

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    __del__ = close

    def next(self) -> bytes:
        if self._handle is None:
            self._handle = self.corpus.files[self.file].open("rb")
            self._handle.seek(self.offset)
        first = self.offset == 0
        raw = self._handle.readline()
        self.offset += len(raw)
        raw = strip_bom(raw) if first else raw
        if not raw or self.offset >= self.corpus.sizes[self.file]:  # move on: canonical positions
            self.close()
            self.file, self.offset = self.file + 1, 0
            if self.file == len(self.corpus.files):
                self.file, self.wraps = 0, self.wraps + 1
        return raw


class BackwardLines:
    """Raw lines of the ring that end before a position, last line first."""

    def __init__(self, corpus: Corpus, position: Position, wraps: int = 0) -> None:
        self.corpus, self.wraps = corpus, wraps
        self.file, self.end = position
        # _buffer holds bytes [_start, end) of the current file, read but not returned
        self._buffer, self._start = b"", self.end

    def position(self) -> Position:
        return self.file, self.end

    def next(self) -> bytes:
        while self.end == 0:
            self.file -= 1
            if self.file < 0:
                self.file, self.wraps = len(self.corpus.files) - 1, self.wraps + 1
            self.end = self.corpus.sizes[self.file]
            self._buffer, self._start = b"", self.end
        while True:
            # the newline ending the previous line; this line's own newline is excluded
            cut = self._buffer.rfind(b"\n", 0, max(len(self._buffer) - 1, 0))
            if cut >= 0 or self._start == 0:
                break
            self._read_block()
        line = self._buffer[cut + 1 :]
        self._buffer = self._buffer[: cut + 1]
        self.end = self._start + cut + 1
        return strip_bom(line) if self.end == 0 else line

    def _read_block(self) -> None:
        begin = max(0, self._start - BLOCK)
        with self.corpus.files[self.file].open("rb") as handle:
            handle.seek(begin)
            self._buffer = handle.read(self._start - begin) + self._buffer
        self._start = begin


class TokenStream:
    """Tokens of consecutive lines, each wrapped in boundaries (reversed when backward)."""

    def __init__(
        self, lines, tokenizer: Tokenizer, reverse: bool, pending: Optional[List[str]] = None
    ) -> None:
        self.lines, self.tokenizer, self.reverse = lines, tokenizer, reverse
        self.pending: List[str] = list(pending or [])

    def window(self, steps: int) -> List[str]:
        """The next ``steps + 1`` tokens; the last is kept as the next window's first."""
        while len(self.pending) < steps + 1:
            self.pending.extend(self._next_line())
        out = self.pending[: steps + 1]
        del self.pending[:steps]
        return out

    def _next_line(self) -> List[str]:
        start_wraps = self.lines.wraps
        while True:
            raw = self.lines.next()
            text = decode_line(raw)
            if text is None:  # checked before step 1 (check_utf8): the file changed since
                files = self.lines.corpus.files
                raise ValueError(Errors.E507.format(
                    what="Corpus file", path=files[self.lines.file % len(files)], line="?",
                    error="changed during training"))
            tokens = self.tokenizer(text)
            if tokens:
                break
            if self.lines.wraps > start_wraps + 1:
                files = [str(f) for f in self.lines.corpus.files[:5]]
                raise ValueError(Errors.E307.format(paths=files))
        if self.reverse:
            return [EOS_TOKEN] + tokens[::-1] + [BOS_TOKEN]
        return [BOS_TOKEN] + tokens + [EOS_TOKEN]

    def next_sentence(self, max_length: int) -> List[str]:
        """The next line's tokens (at most ``max_length``), without boundaries."""
        tokens = self._next_line()
        return tokens[1 : 1 + min(max_length, len(tokens) - 2)]

    def state(self) -> Dict[str, Any]:
        return {"position": list(self.lines.position()), "wraps": self.lines.wraps,
                "pending": list(self.pending)}


class RowStreams:
    """The streams of the rows ``rows`` (global indices) of a global batch of ``n_rows``.

    mode "window": each row has a forward and a backward stream, read ``steps + 1``
    tokens at a time. mode "sentence": each row has a forward stream of lines.
    """

    def __init__(self, corpus: Corpus, tokenizer: Tokenizer, n_rows: int, rows: Sequence[int],
                 mode: str = "window") -> None:
        self.corpus, self.tokenizer, self.rows, self.mode = corpus, tokenizer, list(rows), mode
        starts = corpus.row_starts(n_rows)
        self.forward = {
            r: TokenStream(ForwardLines(corpus, starts[r]), tokenizer, False) for r in self.rows
        }
        self.backward = {}
        if mode == "window":
            self.backward = {
                r: TokenStream(BackwardLines(corpus, starts[(r + 1) % n_rows]), tokenizer, True)
                for r in self.rows
            }

    def windows(self, steps: int) -> Tuple[List[List[str]], List[List[str]]]:
        """(forward, backward) token windows, each a list over rows of steps + 1 tokens."""
        return ([self.forward[r].window(steps) for r in self.rows],
                [self.backward[r].window(steps) for r in self.rows])

    def sentences(self, max_length: int) -> List[List[str]]:
        return [self.forward[r].next_sentence(max_length) for r in self.rows]

    def state(self) -> Dict[int, Dict[str, Any]]:
        """Position of every row, by global row index (JSON-serializable)."""
        return {r: {"forward": self.forward[r].state(),
                    **({"backward": self.backward[r].state()} if self.backward else {})}
                for r in self.rows}

    def load_state(self, state: Dict[int, Dict[str, Any]]) -> None:
        for r in self.rows:
            saved = state[r]
            self.forward[r] = self._restore(ForwardLines, False, saved["forward"])
            if self.backward:
                self.backward[r] = self._restore(BackwardLines, True, saved["backward"])

    def _restore(self, reader, reverse: bool, saved: Dict[str, Any]) -> TokenStream:
        lines = reader(self.corpus, tuple(saved["position"]), saved["wraps"])
        return TokenStream(lines, self.tokenizer, reverse, saved["pending"])
