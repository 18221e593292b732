"""The Doc, Token and Span extensions of the ``elmo`` component, and its vector hooks.

Everything is read from ``doc._.elmo`` (an ``ElmoData``): the other attributes are
getters returning views of it, so only one copy is stored and serialized.

- ``doc._.elmo``: the ``ElmoData``.
- ``doc._.elmo_layers``: (k, len(doc), 2P), the stored layers (all L+1 by default).
- ``doc._.elmo_vectors``: (len(doc), 2P), the component's mix.
- ``token._.elmo_vector``: (2P,), a row of ``doc._.elmo_vectors``.
- ``span._.elmo_vector``: (2P,), the mean over the span's tokens, whitespace tokens
  excluded (they get no ELMo vector: all zeros); zeros if the span has no other token.

The vector hooks (``add_vector_hooks``) make ``.vector``, ``.has_vector``,
``.vector_norm`` and ``.similarity`` of the doc, its tokens and spans use the same values.
spaCy never serializes hooks: after ``Doc.from_bytes``/``DocBin``/``n_process > 1``, call
``add_vector_hooks(doc)`` again. ``doc.tensor`` is serialized, and spaCy's own fallbacks
read it when the vocab has no static vectors.
"""
from typing import Optional, Union

import numpy
from spacy.tokens import Doc, Span, Token

from .data_classes import ElmoData, is_skipped

DOC_DATA = "elmo"
DOC_LAYERS = "elmo_layers"
DOC_VECTORS = "elmo_vectors"
TOKEN_VECTOR = "elmo_vector"
SPAN_VECTOR = "elmo_vector"
# Where doc._.elmo lives in doc.user_data: the key spaCy gives plain extension values.
_USER_DATA_KEY = ("._.", DOC_DATA, None, None)


def install_extensions() -> None:
    """Register the extensions (idempotent)."""
    if not Doc.has_extension(DOC_DATA):
        Doc.set_extension(DOC_DATA, getter=get_elmo_data, setter=set_elmo_data)
    if not Doc.has_extension(DOC_LAYERS):
        Doc.set_extension(DOC_LAYERS, getter=_doc_layers)
    if not Doc.has_extension(DOC_VECTORS):
        Doc.set_extension(DOC_VECTORS, getter=_doc_vectors)
    if not Token.has_extension(TOKEN_VECTOR):
        Token.set_extension(TOKEN_VECTOR, getter=_token_vector)
    if not Span.has_extension(SPAN_VECTOR):
        Span.set_extension(SPAN_VECTOR, getter=_span_vector)


def get_elmo_data(doc: Doc) -> Optional[ElmoData]:
    """``doc._.elmo``, decoding it if the doc was deserialized before spacy_elmo's
    msgpack decoder was registered (it then holds the encoded dict)."""
    value = doc.user_data.get(_USER_DATA_KEY)
    if isinstance(value, dict):
        value = ElmoData.from_msg(value)
        doc.user_data[_USER_DATA_KEY] = value
    return value


def set_elmo_data(doc: Doc, value: Optional[ElmoData]) -> None:
    doc.user_data[_USER_DATA_KEY] = value


def _doc_layers(doc: Doc):
    data = get_elmo_data(doc)
    return None if data is None else data.layers


def _doc_vectors(doc: Doc):
    data = get_elmo_data(doc)
    return None if data is None else data.vectors


def _token_vector(token: Token):
    data = get_elmo_data(token.doc)
    return None if data is None else data.vectors[token.i]


def _span_vector(span: Span):
    data = get_elmo_data(span.doc)
    if data is None:
        return None
    rows = [token.i for token in span if not is_skipped(token)]
    if not rows:
        return numpy.zeros((data.width,), dtype=data.vectors.dtype)
    return data.vectors[rows].mean(axis=0)


# Hooks: module-level functions, so that docs holding them still pickle.
def _hook_vector(obj: Union[Doc, Span, Token]):
    if isinstance(obj, Token):
        return _token_vector(obj)
    return _span_vector(obj[:] if isinstance(obj, Doc) else obj)


def _hook_has_vector(obj: Union[Doc, Span, Token]) -> bool:
    doc = obj if isinstance(obj, Doc) else obj.doc
    return get_elmo_data(doc) is not None


def _hook_vector_norm(obj: Union[Doc, Span, Token]) -> float:
    vector = _hook_vector(obj)
    return 0.0 if vector is None else float(numpy.linalg.norm(vector.astype("float32")))


def _hook_similarity(obj: Union[Doc, Span, Token], other) -> float:
    """Cosine similarity of the ELMo vectors (0.0 when either vector is all zeros)."""
    a = numpy.asarray(_hook_vector(obj), dtype="float32")
    b = numpy.asarray(other.vector, dtype="float32")
    norm = float(numpy.linalg.norm(a) * numpy.linalg.norm(b))
    return 0.0 if norm == 0.0 else float(numpy.dot(a, b) / norm)


def add_vector_hooks(doc: Doc) -> Doc:
    """Make ``.vector``/``.has_vector``/``.vector_norm``/``.similarity`` use ELMo."""
    for hooks in (doc.user_hooks, doc.user_token_hooks):
        hooks["vector"] = _hook_vector
        hooks["has_vector"] = _hook_has_vector
        hooks["vector_norm"] = _hook_vector_norm
        hooks["similarity"] = _hook_similarity
    # No span "vector_norm" hook: spaCy's Span.vector_norm calls the "vector" hook instead.
    doc.user_span_hooks["vector"] = _hook_vector
    doc.user_span_hooks["has_vector"] = _hook_has_vector
    doc.user_span_hooks["similarity"] = _hook_similarity
    return doc
