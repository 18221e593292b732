"""Convert a CoNLL-2003 NER file (IOB1 tags) into a spaCy DocBin.

CoNLL-2003 is in IOB1: an entity normally begins with I-X, and B-X is only
used for the first token of an entity that directly follows another entity of
the same type. spaCy's `iob_to_biluo` reads IOB1 correctly as it is: an entity
continues only while the next tag is I- of the same type, so I-X after O or
after another type opens an entity, and B-X always does. The conversion itself
is therefore spaCy's `conll_ner_to_docs`, with three things done first that it
does not do:

- each line is checked for 4 columns and an O / I-X / B-X tag, and an error
  names the file and line (spaCy's reader would silently take the wrong column);
- every -DOCSTART- line is rewritten to the one spelling spaCy splits documents
  on (eng.testb writes "-DOCSTART- -X- -X- O", which spaCy would read as a token);
- documents are cut into Docs of N sentences, never across a -DOCSTART- line.
"""
import re
from pathlib import Path
from typing import Iterator, List

import typer
from spacy.tokens import Doc
from spacy.training.converters import conll_ner_to_docs
from wasabi import msg

from docbin_io import write_docbin

# The exact delimiter line that spacy's conll_ner_to_docs splits documents on.
DOC_DELIMITER = "-DOCSTART- -X- O O"
N_COLUMNS = 4  # word POS chunk NER
TAG_PATTERN = re.compile(r"^(O|[IB]-\S+)$")

Sentence = List[str]  # the lines of one sentence


def read_documents(path: Path) -> List[List[Sentence]]:
    """Read a CoNLL-2003 file into documents, each a list of sentences.

    Raises ValueError naming the file and line for a malformed line.
    """
    docs: List[List[Sentence]] = [[]]
    sentence: Sentence = []
    with path.open(encoding="utf8") as file_:
        for line_no, line in enumerate(file_, start=1):
            columns = line.split()
            if not columns or columns[0] == "-DOCSTART-":
                if sentence:
                    docs[-1].append(sentence)
                    sentence = []
                if columns and docs[-1]:
                    docs.append([])
                continue
            if len(columns) != N_COLUMNS:
                raise ValueError(
                    f"{path}:{line_no}: expected {N_COLUMNS} columns "
                    f"(word POS chunk NER), found {len(columns)}: {line.strip()!r}"
                )
            if not TAG_PATTERN.match(columns[-1]):
                raise ValueError(
                    f"{path}:{line_no}: expected an IOB1 tag (O, I-X or B-X), "
                    f"found {columns[-1]!r}"
                )
            sentence.append(" ".join(columns))
    if sentence:
        docs[-1].append(sentence)
    return [doc for doc in docs if doc]


def to_conll_text(docs: List[List[Sentence]], n_sents: int) -> str:
    """Write the documents back as text, with a delimiter every n_sents
    sentences (0: one per document), in the layout conll_ner_to_docs reads."""
    parts = []
    for doc in docs:
        size = n_sents or len(doc)
        for start in range(0, len(doc), size):
            sentences = ["\n".join(lines) for lines in doc[start : start + size]]
            parts.append(DOC_DELIMITER + "\n\n" + "\n\n".join(sentences))
    return "\n\n".join(parts) + "\n"


def convert(path: Path, n_sents: int = 10) -> Iterator[Doc]:
    """Yield one Doc with entities and sentence starts per n_sents sentences."""
    text = to_conll_text(read_documents(path), n_sents)
    # n_sents=0: the delimiters written above already cut the documents.
    yield from conll_ner_to_docs(text, n_sents=0, no_print=True)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    input_path: Path = typer.Argument(
        ..., help="CoNLL-2003 file (IOB1)", exists=True, dir_okay=False
    ),
    output_path: Path = typer.Argument(..., help="Output .spacy file", dir_okay=False),
    n_sents: int = typer.Option(
        10,
        "--n-sents",
        "-n",
        min=0,
        help="Sentences per Doc, never across documents (0: whole documents)",
    ),
) -> None:
    """Convert a CoNLL-2003 NER file (IOB1) into a spaCy DocBin."""
    try:
        docs = list(convert(input_path, n_sents))
    except ValueError as err:
        msg.fail(str(err), exits=1)
    write_docbin(docs, output_path)


if __name__ == "__main__":
    app()
