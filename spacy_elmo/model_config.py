"""The [components.elmo.model] block of a config, written from an ``ElmoOptions``."""
from typing import Any, Dict

from .nn import ElmoOptions

ARCHITECTURE = "spacy-elmo.ElmoModel.v2"


def model_config_from_options(options: ElmoOptions) -> Dict[str, Any]:
    """The [components.elmo.model] block describing ``options`` ("spacy-elmo.ElmoModel.v2",
    which names the token encoder and the vocabulary sizes)."""
    block: Dict[str, Any] = {"@architectures": ARCHITECTURE}
    block.update((name, getattr(options, name)) for name in ElmoOptions.settings())
    block["filters"] = [list(f) for f in options.filters]  # a config holds lists
    return block
