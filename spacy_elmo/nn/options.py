"""The dimensions of an ELMo biLM: what options.json says, parsed and validated once."""
import dataclasses
import math
import os
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
        object.__setattr__(self, "filters", _parse_filters(self.filters))
        _check_kinds(self)
        _check_sizes(self)

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

    @property
    def n_parameters(self) -> int:
        """Numbers a ``BiLM`` of these options stores (parameters and initial state),
        worked out from the dimensions alone: nothing is allocated."""
        C, P, D, F = self.lstm_dim, self.projection_dim, self.char_dim, self.n_filters
        encoder = self.embedding_rows * D + self.word_rows * self.word_dim
        encoder += sum(n * D * width + n for width, n in self.filters)
        encoder += self.n_highway * 2 * (F * F + F)
        if self.has_projection:
            encoder += (self.word_dim + F) * P + P
        # per layer and direction: W_in (P, 4C), W_h (P, 4C), bias 4C, W_proj (C, P),
        # initial h (P) and c (C)
        lstm = self.n_layers * 2 * (2 * P * 4 * C + 4 * C + C * P + P + C)
        return encoder + lstm

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
            filters=cnn["filters"],
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
            filters=embedder["filters"],
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

    def to_efml_dict(self, dropout: float = 0.0) -> Dict[str, Any]:
        """The ELMoForManyLangs architecture file (``from_efml_dict``'s input);
        ``dropout`` is its training-only recurrent dropout, which its code reads."""
        if self.token_encoder != "efml" or not self.use_skip_connections:
            raise ValueError(Errors.E628.format(
                token_encoder=self.token_encoder, skip=self.use_skip_connections))
        return {
            "encoder": {"name": "elmo", "projection_dim": self.projection_dim,
                        "cell_clip": self.cell_clip, "proj_clip": self.proj_clip,
                        "dim": self.lstm_dim, "n_layers": self.n_layers},
            "token_embedder": {"name": "cnn", "activation": self.activation,
                               "filters": [list(f) for f in self.filters],
                               "n_highway": self.n_highway, "word_dim": self.word_dim,
                               "char_dim": self.char_dim,
                               "max_characters_per_token": self.max_characters_per_token},
            "dropout": dropout,
        }

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


# Module counts beyond any real biLM (the published ones have 2 layers, 1-2 highways):
# more would take minutes to build even when the numbers fit in memory.
MAX_LAYERS = 1024
_POSITIVE = ("lstm_dim", "projection_dim", "n_layers", "char_dim")
_NON_NEGATIVE = ("n_highway", "word_dim", "n_words", "n_characters", "max_characters_per_token")


def physical_memory() -> int:
    """Bytes of memory this machine has (its RAM); 1 TiB where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 1 << 40


def _parse_filters(filters: Any) -> Tuple[Tuple[int, int], ...]:
    """((width, n_filters), ...) of positive integers; E016 for anything else."""
    try:
        pairs = tuple((w, n) for w, n in filters)
    except (TypeError, ValueError):
        raise ValueError(Errors.E016.format(value=filters)) from None
    if not pairs or not all(_is_int(v) and v >= 1 for pair in pairs for v in pair):
        raise ValueError(Errors.E016.format(value=filters))
    return tuple((int(w), int(n)) for w, n in pairs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_kinds(opts: ElmoOptions) -> None:
    """The token encoder's kind and the settings that go with it."""
    if opts.token_encoder not in TOKEN_ENCODERS:
        raise ValueError(Errors.E600.format(value=opts.token_encoder))
    for name in _POSITIVE + _NON_NEGATIVE:
        value = getattr(opts, name)
        if not _is_int(value) or value < (1 if name in _POSITIVE else 0):
            expected = "a positive integer" if name in _POSITIVE else "an integer >= 0"
            raise ValueError(Errors.E015.format(name=name, expected=expected, value=value))
    for name in ("cell_clip", "proj_clip"):
        value = getattr(opts, name)
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value < math.inf):
            raise ValueError(Errors.E015.format(
                name=name, expected="a number >= 0 (0: no clip)", value=value))
    if opts.token_encoder == "elmo" and opts.n_characters not in (261, 262):
        raise ValueError(Errors.E008.format(value=opts.n_characters))
    if opts.token_encoder == "elmo" and (opts.word_dim or opts.n_words):
        raise ValueError(Errors.E601.format(word_dim=opts.word_dim, n_words=opts.n_words))
    if opts.token_encoder == "efml" and (opts.n_characters < 1 or (opts.word_dim > 0) != (opts.n_words > 0)):
        raise ValueError(Errors.E602.format(
            n_characters=opts.n_characters, word_dim=opts.word_dim, n_words=opts.n_words))
    if opts.activation not in ACTIVATIONS:
        raise ValueError(Errors.E009.format(value=opts.activation))


def _check_sizes(opts: ElmoOptions) -> None:
    """Sizes a biLM can have on this machine, checked before anything is allocated."""
    if opts.max_characters_per_token < 3:
        raise ValueError(Errors.E010.format(value=opts.max_characters_per_token))
    widest = max(width for width, _ in opts.filters)
    if widest > opts.max_characters_per_token:
        raise ValueError(Errors.E017.format(
            width=widest, max_chars=opts.max_characters_per_token))
    for name in ("n_layers", "n_highway"):
        if getattr(opts, name) > MAX_LAYERS:
            raise ValueError(Errors.E018.format(name=name, value=getattr(opts, name), limit=MAX_LAYERS))
    memory, needed = physical_memory(), 4 * opts.n_parameters
    if needed > memory:
        raise ValueError(Errors.E019.format(
            n=opts.n_parameters, gib=needed / 2**30, memory=memory / 2**30,
            dims=f"lstm_dim={opts.lstm_dim}, projection_dim={opts.projection_dim}, "
                 f"n_layers={opts.n_layers}, filters F={opts.n_filters}, "
                 f"n_highway={opts.n_highway}"))


PUBLISHED_FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
# name: (lstm_dim, projection_dim, n_highway), all with 2 layers, clip 3, skip connections
PUBLISHED = {"small": (1024, 128, 1), "medium": (2048, 256, 1), "original": (4096, 512, 2)}


def published_options(size: str) -> ElmoOptions:
    """The published architectures by name: "small", "medium" or "original"."""
    if size not in PUBLISHED:
        raise ValueError(Errors.E040.format(size=size, known=", ".join(PUBLISHED)))
    lstm_dim, projection_dim, n_highway = PUBLISHED[size]
    return ElmoOptions(
        lstm_dim=lstm_dim, projection_dim=projection_dim, n_layers=2, cell_clip=3.0,
        proj_clip=3.0, use_skip_connections=True, char_dim=16, filters=PUBLISHED_FILTERS,
        n_highway=n_highway,
    )
