"""Shared by the corpus converters: write docs to a .spacy file and say what it holds."""
from pathlib import Path
from typing import List

from spacy.tokens import Doc, DocBin
from wasabi import msg


def write_docbin(docs: List[Doc], output_path: Path) -> None:
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=False).to_disk(output_path)
    n_sentences = sum(len(list(doc.sents)) for doc in docs)
    n_ents = sum(len(doc.ents) for doc in docs)
    msg.good(f"Wrote {len(docs)} docs ({n_sentences} sentences, {n_ents} entities) to {output_path}")
