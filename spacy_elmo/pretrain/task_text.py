"""A task's training data as pretraining text: its words, one sentence per line.

``adapt`` continues pretraining on the data a user gives ``spacy train``: .spacy files
(DocBin) or plain text files, or folders of them. Only the words are read, never the
annotations. A doc is split into sentences where it marks them (``doc.sents`` when its
sentence boundaries are set), else it is one sequence; a line of a text file is one doc,
tokenized by spaCy's tokenizer for the language (or the given one: a pipeline's own). Whitespace tokens are dropped, and a
token with whitespace inside becomes several words (the text is whitespace-tokenized).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

from spacy.tokens import Doc, DocBin

from ..errors import Errors
from ..output_file import atomic_write
from .corpus import Tokenizer, iter_lines, usable_files

DOCBIN_SUFFIX = ".spacy"


@dataclass
class TextStats:
    """What a conversion read: files, docs, sentences (lines written) and words."""

    files: int = 0
    docs: int = 0
    sentences: int = 0
    words: int = 0


def task_files(path: Path) -> List[Path]:
    """A file, or a folder's .spacy files (recursively, as ``spacy train`` reads a
    folder); a folder without any: its text files."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(Errors.E360.format(path=path))
    found = sorted(p for p in path.rglob(f"*{DOCBIN_SUFFIX}") if p.is_file())
    if not found:
        found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not found:
        raise ValueError(Errors.E361.format(path=path))
    return found


def write_task_text(path: Path, output: Path, lang: str,
                    tokenizer: Optional[Tokenizer] = None) -> TextStats:
    """Write the words of the data at ``path`` (``task_files``) to ``output``, one
    sentence per line, words separated by spaces; returns what was read. Text files
    are tokenized by ``tokenizer``, by default spaCy's for ``lang``."""
    stats = TextStats()
    tokenizer = tokenizer or Tokenizer(lang, "spacy")
    lines: List[str] = []
    for file in task_files(path):
        stats.files += 1
        for doc_words in _docs(file, tokenizer, lang):
            stats.docs += 1
            for words in doc_words:
                if words:
                    stats.sentences += 1
                    stats.words += len(words)
                    lines.append(" ".join(words) + "\n")
    if not stats.words:
        raise ValueError(Errors.E363.format(path=path))
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda tmp: tmp.write_text("".join(lines), encoding="utf8"))
    return stats


def _docs(file: Path, tokenizer: Tokenizer, lang: str) -> Iterator[List[List[str]]]:
    """Each doc of ``file`` as its sentences' words."""
    if file.suffix == DOCBIN_SUFFIX:
        for doc in _read_docbin(file, lang):
            spans = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
            yield [[w for token in span if not token.is_space for w in token.text.split()]
                   for span in spans]
    else:
        for path in usable_files([file]):  # an empty or binary file: a warning naming it
            for line in iter_lines(path):  # a line that is not UTF-8: an error naming it
                yield [tokenizer(line)]


def _read_docbin(file: Path, lang: str) -> List[Doc]:
    import spacy

    vocab = spacy.blank(lang).vocab
    try:
        return list(DocBin().from_disk(file).get_docs(vocab))
    except (ValueError, KeyError, TypeError) as err:  # spaCy's E1014, msgpack's, missing keys
        raise ValueError(Errors.E362.format(path=file, error=f"{type(err).__name__}: {err}")) from None
