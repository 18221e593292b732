"""Where ``download`` keeps models: ``SPACY_ELMO_CACHE``, else ``spacy-elmo`` in the
platform's user cache folder. Apart from ``model_download`` so that ``download --list``
shows it without loading spaCy, torch or h5py."""
import os
import sys
from pathlib import Path

CACHE_ENV = "SPACY_ELMO_CACHE"


def cache_dir() -> Path:
    """``SPACY_ELMO_CACHE``, else ``spacy-elmo`` in the platform's user cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "spacy-elmo"
