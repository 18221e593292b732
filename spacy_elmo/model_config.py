"""The [components.elmo.model] block of a config, written from an ``ElmoOptions``."""
from typing import Any, Dict

from .nn import ElmoOptions

ARCHITECTURE = "spacy-elmo.ElmoModel.v2"


def model_config_from_options(options: ElmoOptions) -> Dict[str, Any]:
    """The [components.elmo.model] block describing ``options`` ("spacy-elmo.ElmoModel.v2",
    which names the token encoder and the vocabulary sizes)."""
    return {
        "@architectures": ARCHITECTURE,
        "lstm_dim": options.lstm_dim, "projection_dim": options.projection_dim,
        "n_layers": options.n_layers, "cell_clip": options.cell_clip,
        "proj_clip": options.proj_clip, "use_skip_connections": options.use_skip_connections,
        "char_dim": options.char_dim, "filters": [list(f) for f in options.filters],
        "n_highway": options.n_highway, "n_characters": options.n_characters,
        "max_characters_per_token": options.max_characters_per_token,
        "activation": options.activation, "token_encoder": options.token_encoder,
        "word_dim": options.word_dim, "n_words": options.n_words,
    }
