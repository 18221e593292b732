"""The dimensions of an ELMo biLM: what options.json says, parsed and validated once."""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from ..errors import Errors

ACTIVATIONS = ("relu", "tanh")
# "elmo": the original token encoder (UTF-8 bytes, bilm-tf); "efml": ELMoForManyLangs'
# (a char.dic vocabulary, optional word embeddings, input-weighting highway gate).
TOKEN_ENCODERS = ("elmo", "efml")


@dataclass(frozen=True, kw_only=True)
class ElmoOptions:
    """Architecture of a biLM, in the original options.json vocabulary.

    lstm_dim (int): LSTM cell size C (4096 in the published models).
    projection_dim (int): projection size P of the LSTM output and the token encoder.
    n_layers (int): LSTM layers L per direction.
    cell_clip (float): clip the cell to [-cell_clip, cell_clip]; 0 or None: no clip.
    proj_clip (float): clip the projected output likewise.
    use_skip_connections (bool): layer l > 0 adds its input to its output.
    char_dim (int): character embedding size.
    filters (tuple): (width, n_filters) per convolution.
    n_highway (int): highway layers after the convolutions.
    n_characters (int): "elmo": 262 for prediction; 261 as the original trainer writes
        it. "efml": the number of entries of char.dic.
    max_characters_per_token (int): char ids per token (50).
    activation (str): "relu" or "tanh" after each convolution.
    token_encoder (str): "elmo" (the original) or "efml" (ELMoForManyLangs).
    word_dim (int): "efml" only: word embedding size, 0 for none (100 when published).
    n_words (int): "efml" only: the number of entries of word.dic (0 when word_dim is 0).
    """

    lstm_dim: int
    projection_dim: int
    n_layers: int
    cell_clip: float = 3.0
    proj_clip: float = 3.0
    use_skip_connections: bool = True
    char_dim: int = 16
    filters: Tuple[Tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 128))
    n_highway: int = 2
    # Compared between a weights source and a config as the rows they make: 261 and 262
    # n_characters describe the same "elmo" weights (``embedding_rows``).
    n_characters: int = field(default=262, metadata={"compared_as": "embedding_rows"})
    max_characters_per_token: int = 50
    activation: str = "relu"
    token_encoder: str = "elmo"
    word_dim: int = 0
    n_words: int = field(default=0, metadata={"compared_as": "word_rows"})
    extra: Dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple((int(w), int(n)) for w, n in self.filters))
        if self.token_encoder not in TOKEN_ENCODERS:
            raise ValueError(Errors.E600.format(value=self.token_encoder))
        if self.token_encoder == "elmo" and self.n_characters not in (261, 262):
            raise ValueError(Errors.E008.format(value=self.n_characters))
        if self.token_encoder == "elmo" and (self.word_dim or self.n_words):
            raise ValueError(Errors.E601.format(word_dim=self.word_dim, n_words=self.n_words))
        if self.token_encoder == "efml" and (
            self.n_characters < 1 or self.word_dim < 0 or (self.word_dim > 0) != (self.n_words > 0)
        ):
            raise ValueError(Errors.E602.format(
                n_characters=self.n_characters, word_dim=self.word_dim, n_words=self.n_words))
        if self.activation not in ACTIVATIONS:
            raise ValueError(Errors.E009.format(value=self.activation))
        if self.max_characters_per_token < 3:
            raise ValueError(Errors.E010.format(value=self.max_characters_per_token))
        for name in ("lstm_dim", "projection_dim", "n_layers", "char_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, found {getattr(self, name)}")
        if not self.filters:
            raise ValueError("char_cnn.filters must list at least one [width, n_filters] pair")

    @property
    def n_filters(self) -> int:
        """F, the width of the concatenated convolution outputs."""
        return sum(n for _, n in self.filters)

    @property
    def embedding_rows(self) -> int:
        """Rows of the char embedding at prediction time: 262 for "elmo".

        The original trainer writes 261 (ids 0..260, unshifted); prediction shifts every
        id by +1 to free 0 for padding, so one more row is needed (bilm-tf README FAQ).
        "efml" ids are shifted the same way: char.dic's entries plus a padding row 0.
        """
        return 262 if self.token_encoder == "elmo" else self.n_characters + 1

    @property
    def word_rows(self) -> int:
        """Rows of the word embedding ("efml" with word_dim > 0): word.dic plus row 0."""
        return self.n_words + 1 if self.word_dim else 0

    @property
    def token_id_width(self) -> int:
        """Ids per token: max_chars char ids, after one word id when there are words."""
        return self.max_characters_per_token + (1 if self.word_dim else 0)

    @property
    def has_projection(self) -> bool:
        """bilm-tf skips the projection when F == P; ELMoForManyLangs always projects."""
        return self.token_encoder == "efml" or self.n_filters != self.projection_dim

    @property
    def forget_bias(self) -> float:
        """Added to the forget gate at run time: TF's forget_bias=1.0 for "elmo";
        ELMoForManyLangs' LSTM (AllenNLP's) has none."""
        return 1.0 if self.token_encoder == "elmo" else 0.0

    @property
    def output_dim(self) -> int:
        """Width of every output layer: [forward; backward] = 2P."""
        return 2 * self.projection_dim

    @property
    def n_output_layers(self) -> int:
        return self.n_layers + 1

    @classmethod
    def from_dict(cls, cfg: Dict[str, Any]) -> "ElmoOptions":
        """Parse the original options.json layout (``lstm`` and ``char_cnn`` blocks)."""
        lstm, cnn = cfg["lstm"], cfg["char_cnn"]
        known_lstm = {"dim", "projection_dim", "n_layers", "cell_clip", "proj_clip",
                      "use_skip_connections"}
        known_cnn = {"embedding", "filters", "n_highway", "n_characters",
                     "max_characters_per_token", "activation"}
        extra = {k: v for k, v in cfg.items() if k not in ("lstm", "char_cnn")}
        extra.update({f"lstm.{k}": v for k, v in lstm.items() if k not in known_lstm})
        extra.update({f"char_cnn.{k}": v for k, v in cnn.items() if k not in known_cnn})
        return cls(
            lstm_dim=int(lstm["dim"]),
            projection_dim=int(lstm["projection_dim"]),
            n_layers=int(lstm["n_layers"]),
            cell_clip=float(lstm.get("cell_clip") or 0.0),
            proj_clip=float(lstm.get("proj_clip") or 0.0),
            use_skip_connections=bool(lstm.get("use_skip_connections", False)),
            char_dim=int(cnn["embedding"]["dim"]),
            filters=tuple(tuple(f) for f in cnn["filters"]),
            n_highway=int(cnn.get("n_highway") or 0),
            n_characters=int(cnn.get("n_characters", 262)),
            max_characters_per_token=int(cnn.get("max_characters_per_token", 50)),
            activation=str(cnn.get("activation", "relu")),
            extra=extra,
        )

    @classmethod
    def from_efml_dict(cls, cfg: Dict[str, Any], n_characters: int, n_words: int) -> "ElmoOptions":
        """Parse an ELMoForManyLangs architecture (``encoder`` and ``token_embedder``
        blocks) with the sizes of its char.dic and word.dic. Only the published kinds
        (encoder "elmo", token embedder "cnn") exist here: others raise ValueError."""
        encoder, embedder = cfg["encoder"], cfg["token_embedder"]
        for block, name, expected in (("encoder", encoder, "elmo"), ("token_embedder", embedder, "cnn")):
            if str(name.get("name", "")).lower() != expected:
                raise ValueError(Errors.E603.format(
                    block=block, found=name.get("name"), expected=expected))
        word_dim = int(embedder.get("word_dim") or 0)
        return cls(
            lstm_dim=int(encoder["dim"]),
            projection_dim=int(encoder["projection_dim"]),
            n_layers=int(encoder["n_layers"]),
            cell_clip=float(encoder.get("cell_clip") or 0.0),
            proj_clip=float(encoder.get("proj_clip") or 0.0),
            use_skip_connections=True,  # the original adds layer k > 0's input, always
            char_dim=int(embedder["char_dim"]),
            filters=tuple(tuple(f) for f in embedder["filters"]),
            n_highway=int(embedder.get("n_highway") or 0),
            n_characters=int(n_characters),
            max_characters_per_token=int(embedder.get("max_characters_per_token", 50)),
            activation=str(embedder.get("activation", "relu")),
            token_encoder="efml",
            word_dim=word_dim,
            n_words=int(n_words) if word_dim else 0,
        )

    def to_dict(self) -> Dict[str, Any]:
        """The original options.json layout (written with n_characters 262)."""
        if self.token_encoder != "elmo":
            raise ValueError(Errors.E604)
        cfg: Dict[str, Any] = {
            "lstm": {
                "dim": self.lstm_dim,
                "projection_dim": self.projection_dim,
                "n_layers": self.n_layers,
                "cell_clip": self.cell_clip,
                "proj_clip": self.proj_clip,
                "use_skip_connections": self.use_skip_connections,
            },
            "char_cnn": {
                "embedding": {"dim": self.char_dim},
                "filters": [list(f) for f in self.filters],
                "n_highway": self.n_highway,
                "n_characters": 262,
                "max_characters_per_token": self.max_characters_per_token,
                "activation": self.activation,
            },
        }
        for key, value in self.extra.items():
            if key.startswith("lstm."):
                cfg["lstm"][key[5:]] = value
            elif key.startswith("char_cnn."):
                cfg["char_cnn"][key[9:]] = value
            else:
                cfg[key] = value
        return cfg

    def replace(self, **changes: Any) -> "ElmoOptions":
        return dataclasses.replace(self, **changes)

    @classmethod
    def settings(cls) -> Tuple[str, ...]:
        """The settings a config's model block holds: every field but ``extra``."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.compare)

    @classmethod
    def weight_settings(cls) -> Tuple[str, ...]:
        """What shapes the weights, compared between a weights source and a config:
        the settings, each as the value it is compared as (n_characters as
        ``embedding_rows``, n_words as ``word_rows``)."""
        return tuple(f.metadata.get("compared_as", f.name)
                     for f in dataclasses.fields(cls) if f.compare)


PUBLISHED_FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
# name: (lstm_dim, projection_dim, n_highway), all with 2 layers, clip 3, skip connections
PUBLISHED = {"small": (1024, 128, 1), "medium": (2048, 256, 1), "original": (4096, 512, 2)}


def published_options(size: str) -> ElmoOptions:
    """The published architectures by name: "small", "medium" or "original"."""
    if size not in PUBLISHED:
        raise ValueError(f"Unknown architecture '{size}': use one of {sorted(PUBLISHED)}.")
    lstm_dim, projection_dim, n_highway = PUBLISHED[size]
    return ElmoOptions(
        lstm_dim=lstm_dim, projection_dim=projection_dim, n_layers=2, cell_clip=3.0,
        proj_clip=3.0, use_skip_connections=True, char_dim=16, filters=PUBLISHED_FILTERS,
        n_highway=n_highway,
    )
