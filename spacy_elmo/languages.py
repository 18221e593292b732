"""Checks of a spaCy language code (``--lang``, a config's ``lang``) and of the Chinese
word segmenter, before anything is built: one coded error instead of spaCy's traceback."""
from typing import Optional

from spacy.util import get_lang_class

from .errors import Errors

SEGMENTERS = ("char", "jieba", "pkuseg")


def check_lang(lang: str, what: str = "--lang") -> str:
    """``lang`` if spaCy has a language class for it; else ValueError (E425)."""
    try:
        get_lang_class(lang)
    except (ImportError, TypeError, ValueError):  # spaCy's E048 is an ImportError
        raise ValueError(Errors.E425.format(what=what, lang=lang)) from None
    return lang


def check_segmenter(segmenter: Optional[str], lang: str) -> None:
    """A Chinese word segmenter is given for lang "zh" only, and is one spaCy knows."""
    if segmenter is None:
        return
    if lang != "zh":
        raise ValueError(Errors.E720.format(lang=lang))
    if segmenter not in SEGMENTERS:
        raise ValueError(Errors.E426.format(segmenter=segmenter, known=", ".join(SEGMENTERS)))
