"""Helpers of the component and command tests: sample texts and the reference layers
(the fixtures they use are in conftest.py)."""
import numpy
from spacy.tokens import Doc

from spacy_elmo import BiLM

TEXTS = [
    "The cat sat on the mat.",
    "Short one.",
    "A considerably longer sentence, with commas, numbers like 42 and a few more words in it.",
    "Hello  world",
    "",
]


def reference_layers(bilm: BiLM, doc: Doc, sentences: bool = False) -> numpy.ndarray:
    """(L+1, len(doc), 2P) from ``bilm.embed``: each sentence (or the doc) alone,
    whitespace tokens left out and zero."""
    out = numpy.zeros((bilm.n_output_layers, len(doc), bilm.output_dim), dtype="float32")
    spans = list(doc.sents) if sentences else [doc[:]]
    for span in spans:
        indices = [t.i for t in span if not t.is_space]
        if indices:
            out[:, indices] = bilm.embed([[doc[i].text for i in indices]])[0]
    return out
