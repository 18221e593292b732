"""Convert a Universal NER file (IOB2 columns) into a spaCy DocBin.

Universal NER (Mayhew et al., NAACL 2024) annotates UD treebanks. Each token line has
five tab-separated columns: id, form, tag, a placeholder "-", and the annotator; tags
are O, B-X or I-X in strict IOB2 (an entity always opens with B-X). Lines starting
with "#" (sent_id, text, newdoc) are comments, a blank line ends a sentence.

Every line is checked (column count, tag, an I-X that continues no X entity) and an
error names the file and line. Sentences become Docs of N sentences, never across a
`# newdoc id` line; the tags go through spaCy's own `iob_to_biluo` and `biluo_tags_to_spans`.
"""
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import typer
from spacy.tokens import Doc
from spacy.training import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab
from wasabi import msg

from docbin_io import write_docbin

N_COLUMNS = 5  # id form tag - annotator
TAG_PATTERN = re.compile(r"^(O|[BI]-\S+)$")

Sentence = List[Tuple[str, str]]  # (form, tag) of each token


def read_documents(path: Path) -> List[List[Sentence]]:
    """Read a UNER file into documents, each a list of sentences.

    Raises ValueError naming the file and line for a malformed line.
    """
    docs: List[List[Sentence]] = [[]]
    sentence: Sentence = []
    with path.open(encoding="utf8") as file_:
        for line_no, line in enumerate(file_, start=1):
            line = line.rstrip("\r\n")
            if line.startswith("# newdoc id") and docs[-1]:
                docs.append([])
            if line.startswith("#"):
                continue
            if not line.strip():
                if sentence:
                    docs[-1].append(sentence)
                sentence = []
                continue
            sentence.append(_read_token(path, line_no, line, sentence))
    if sentence:
        docs[-1].append(sentence)
    return [doc for doc in docs if doc]


def _read_token(path: Path, line_no: int, line: str, sentence: Sentence) -> Tuple[str, str]:
    columns = line.split("\t")
    if len(columns) != N_COLUMNS:
        raise ValueError(
            f"{path}:{line_no}: expected {N_COLUMNS} tab-separated columns "
            f"(id form tag - annotator), found {len(columns)}: {line!r}"
        )
    form, tag = columns[1], columns[2]
    if not TAG_PATTERN.match(tag):
        raise ValueError(f"{path}:{line_no}: expected an IOB2 tag (O, B-X or I-X), found {tag!r}")
    previous = sentence[-1][1] if sentence else "O"
    if tag.startswith("I-") and previous[2:] != tag[2:]:
        raise ValueError(
            f"{path}:{line_no}: {tag!r} after {previous!r}: in IOB2 an entity starts with B-"
        )
    return form, tag


def to_docs(docs: List[List[Sentence]], n_sents: int, vocab: Vocab) -> Iterator[Doc]:
    """One Doc with sentence starts and entities per n_sents sentences of a document
    (0: one Doc per document)."""
    for document in docs:
        size = n_sents or len(document)
        for start in range(0, len(document), size):
            sentences = document[start : start + size]
            words = [form for sentence in sentences for form, _ in sentence]
            tags = [tag for sentence in sentences for _, tag in sentence]
            sent_starts = [i == 0 for sentence in sentences for i in range(len(sentence))]
            doc = Doc(vocab, words=words, sent_starts=sent_starts)
            doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(tags))
            yield doc


def convert(path: Path, n_sents: int = 10) -> Iterator[Doc]:
    yield from to_docs(read_documents(path), n_sents, Vocab())


app = typer.Typer(add_completion=False)


@app.command()
def main(
    input_path: Path = typer.Argument(..., help="UNER file (IOB2 columns)", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Output .spacy file", dir_okay=False),
    n_sents: int = typer.Option(
        10, "--n-sents", "-n", min=0, help="Sentences per Doc, never across documents (0: whole documents)"
    ),
) -> None:
    """Convert a Universal NER file (IOB2 columns) into a spaCy DocBin."""
    try:
        docs = list(convert(input_path, n_sents))
    except ValueError as err:
        msg.fail(str(err), exits=1)
    write_docbin(docs, output_path)


if __name__ == "__main__":
    app()
