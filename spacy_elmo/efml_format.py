"""Read ELMoForManyLangs (HIT-SCIR) model folders into our ``BiLM``, and write them.

A folder holds config.json (whose ``config_path`` names the architecture file),
char.dic / word.dic (``token<TAB>id`` per line) and two state dicts, token_embedder.pkl
and encoder.pkl, saved by torch (the published ones in its legacy, non-zip format).
This module is the only code that knows that layout; every conversion happens in
``weight_table``, with the reason beside it. State dicts are read with
``torch.load(weights_only=True)``: tensors only, nothing else is unpickled.
``save_elmoformanylangs`` writes the same layout back (``weight_table``'s ``get``, the
inverse of each ``set``), so that an adapted model goes back to the original's users.
"""
import pickle
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import srsly
import torch

from .errors import Errors
from .nn.bilm import BiLM
from .torch_files import save_tensors
from .nn.options import ElmoOptions

PathLike = Union[str, Path]
CONFIG_NAME = "config.json"
CHAR_DIC, WORD_DIC = "char.dic", "word.dic"
TOKEN_EMBEDDER, ENCODER = "token_embedder.pkl", "encoder.pkl"
ARCHITECTURE = "cnn_model.json"  # the architecture file save_elmoformanylangs writes
MODEL_FILES = (CONFIG_NAME, ARCHITECTURE, CHAR_DIC, WORD_DIC, TOKEN_EMBEDDER, ENCODER)
# The published architectures, as the original ships them in its configs/ folder.
BUNDLED_CONFIGS = Path(__file__).parent / "efml_configs"
# A line with a single field is this token: the original strips each line, and strip()
# removes an ideographic space (U+3000) token along with the tab.
LONE_ID_TOKEN = "\u3000"


def is_efml_dir(path: PathLike) -> bool:
    """Whether ``path`` looks like an ELMoForManyLangs model folder."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG_NAME).is_file() and (path / ENCODER).is_file()


def find_architecture(model_dir: PathLike) -> Path:
    """The architecture file, searched as the original does: config.json's ``config_path``
    (relative to the folder), then that file name inside the folder, then the published
    architecture of that name shipped with this package."""
    model_dir = Path(model_dir)
    config = _read_json(model_dir / CONFIG_NAME)
    if not isinstance(config, dict) or not isinstance(config.get("config_path"), str):
        raise ValueError(Errors.E610.format(path=model_dir / CONFIG_NAME))
    name = config["config_path"]
    tried = [model_dir / name, model_dir / Path(name).name, BUNDLED_CONFIGS / Path(name).name]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(Errors.E611.format(
        path=model_dir / CONFIG_NAME, name=name, tried=", ".join(map(str, tried))))


def read_lexicon(path: Path) -> List[str]:
    """A .dic file as a list: entry i has id i. Errors name the file and line."""
    if not path.is_file():
        raise FileNotFoundError(Errors.E612.format(path=path))
    by_id: Dict[int, Tuple[str, int]] = {}
    line_of: Dict[str, int] = {}
    # splitlines() splits where the original's codecs readline does; a BOM is no token
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = line.strip().split("\t")
        if len(fields) == 1:
            fields.insert(0, LONE_ID_TOKEN)
        try:
            token, index = fields[0], int(fields[1])
        except (ValueError, IndexError):
            raise ValueError(Errors.E613.format(path=path, line=number, found=line)) from None
        if len(fields) != 2:
            raise ValueError(Errors.E613.format(path=path, line=number, found=line))
        # the original keeps the last of duplicates silently: a broken file, refused
        if index in by_id:
            raise ValueError(Errors.E627.format(
                path=path, line=number, what=f"id {index}", first=by_id[index][1]))
        if token in line_of:
            raise ValueError(Errors.E627.format(
                path=path, line=number, what=f"token {token!r}", first=line_of[token]))
        by_id[index], line_of[token] = (token, number), number
    entries = [by_id[i][0] if i in by_id else None for i in range(len(by_id))]
    if None in entries:
        raise ValueError(Errors.E614.format(path=path, n=len(by_id)))
    return entries  # type: ignore[return-value]


def read_options(model_dir: PathLike) -> Tuple[ElmoOptions, List[str], List[str]]:
    """The options of the model in ``model_dir`` and its char and word vocabularies."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(Errors.E615.format(path=model_dir))
    arch_path = find_architecture(model_dir)
    arch = _read_json(arch_path)
    embedder = arch.get("token_embedder", {}) if isinstance(arch, dict) else {}
    word_dim = int(embedder.get("word_dim") or 0) if isinstance(embedder, dict) else 0
    chars = read_lexicon(model_dir / CHAR_DIC)
    words = read_lexicon(model_dir / WORD_DIC) if word_dim > 0 else []
    try:
        options = ElmoOptions.from_efml_dict(arch, len(chars), len(words))
    except KeyError as err:
        raise ValueError(Errors.E616.format(path=arch_path, problem=f"missing key {err}")) from None
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(Errors.E616.format(path=arch_path, problem=err)) from None
    return options, chars, words


class Entry(NamedTuple):
    """One tensor of a state dict file: how it goes into our parameters (``set``) and
    how it is made from them (``get``, the inverse)."""

    file: str
    key: str
    shape: Tuple[int, ...]
    set: Callable[[torch.Tensor], None]
    get: Callable[[], torch.Tensor]


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _tensor(file: str, key: str, shape: Tuple[int, ...], target: torch.Tensor,
            convert: Callable[[torch.Tensor], torch.Tensor] = _same,
            back: Callable[[torch.Tensor], torch.Tensor] = _same) -> Entry:
    """The file's tensor is ``convert``-ed into ``target``; ``back`` is its inverse."""
    def assign(value: torch.Tensor) -> None:
        with torch.no_grad():
            target.copy_(convert(value))

    return Entry(file, key, shape, assign, lambda: back(target.detach()).contiguous().clone())


def _efml_to_our_gates(w: torch.Tensor, c: int) -> torch.Tensor:
    # ELMoForManyLangs (AllenNLP's LSTM) packs gates (input, forget, cell candidate,
    # output) along dim 0; ours are (i, f, o, g) so that one sigmoid covers 3C columns.
    i, f, g, o = w.split(c, dim=0)
    return torch.cat([i, f, o, g], dim=0)


def _our_to_efml_gates(w: torch.Tensor, c: int) -> torch.Tensor:
    i, f, o, g = w.split(c, dim=0)
    return torch.cat([i, f, g, o], dim=0)


def weight_table(bilm: BiLM) -> List[Entry]:
    """Every tensor of token_embedder.pkl and encoder.pkl, mapped onto ``bilm``."""
    opts, enc = bilm.options, bilm.token_encoder
    F, C = opts.n_filters, opts.lstm_dim
    table = [
        # Our ids are shifted by +1 (0 is the batch padding): row 0 stays zero, the
        # file's rows follow. The <pad> row is a stored vector like any other.
        _tensor(TOKEN_EMBEDDER, "char_emb_layer.embedding.weight",
                (opts.n_characters, opts.char_dim), enc.char_embedding.weight[1:]),
    ]
    if enc.word_embedding is not None:
        # word ids are shifted the same way: row 0 (batch padding) stays zero
        table.append(_tensor(TOKEN_EMBEDDER, "word_emb_layer.embedding.weight",
                             (opts.n_words, opts.word_dim), enc.word_embedding.weight[1:]))
    for i, conv in enumerate(enc.convs):
        # Conv1d (n, char_dim, width) with bias, as ours: no conversion.
        for name in ("weight", "bias"):
            param = getattr(conv, name)
            table.append(_tensor(TOKEN_EMBEDDER, f"convolutions.{i}.{name}",
                                 tuple(param.shape), param))
    for k in range(opts.n_highway):
        carry, transform = enc.highway.carry[k], enc.highway.transform[k]
        for name, width in (("weight", (2 * F, F)), ("bias", (2 * F,))):
            table.append(_highway_entry(f"highways._layers.{k}.{name}", width,
                                        getattr(carry, name), getattr(transform, name), F))
    # projection: Linear([word_emb ; highway_out]) -> P, the same layout as ours
    for name in ("weight", "bias"):
        param = getattr(enc.projection, name)
        table.append(_tensor(TOKEN_EMBEDDER, f"projection.{name}", tuple(param.shape), param))
    for l, layer in enumerate(bilm.lstm.layers):
        for d, direction in enumerate(("forward", "backward")):
            table.extend(_lstm_table(f"{direction}_layer_{l}.", layer, d, C))
    return table


def _highway_entry(key: str, shape: Tuple[int, ...], carry: torch.Tensor,
                   transform: torch.Tensor, F: int) -> Entry:
    def assign(value: torch.Tensor) -> None:
        # Linear F -> 2F: first half a (transformed, relu), second half b (gate). Their
        # y = s(b) x + (1 - s(b)) relu(a); our gate weights relu(a) instead:
        # 1 - s(b) = s(-b), so our carry is the negated second half (exact in float).
        with torch.no_grad():
            transform.copy_(value[:F])
            carry.copy_(-value[F:])

    return Entry(TOKEN_EMBEDDER, key, shape, assign,
                 lambda: torch.cat([transform.detach(), -carry.detach()]).clone())


def _lstm_table(prefix: str, layer, d: int, C: int) -> List[Entry]:
    d_in, P = layer.w_input.shape[1], layer.proj_dim
    to_ours = lambda w: _efml_to_our_gates(w, C)
    to_efml = lambda w: _our_to_efml_gates(w, C)
    return [
        # torch Linear stores (out, in); ours computes x @ W (in, out): transpose, and
        # reorder the gates. There is no forget bias at run time: the layer is built
        # with forget_bias 0.0 (ElmoOptions.forget_bias for "efml").
        _tensor(ENCODER, prefix + "input_linearity.weight", (4 * C, d_in), layer.w_input[d],
                lambda w: to_ours(w).t(), lambda w: to_efml(w.t())),
        _tensor(ENCODER, prefix + "state_linearity.weight", (4 * C, P), layer.w_hidden[d],
                lambda w: to_ours(w).t(), lambda w: to_efml(w.t())),
        # the only LSTM bias (input_linearity has none): gates reordered
        _tensor(ENCODER, prefix + "state_linearity.bias", (4 * C,), layer.bias[d],
                to_ours, to_efml),
        # state_projection (P, C) without bias -> our w_proj (C, P)
        _tensor(ENCODER, prefix + "state_projection.weight", (P, C), layer.w_proj[d],
                lambda w: w.t(), lambda w: w.t()),
    ]


def load_state_dict(path: Path) -> Dict[str, torch.Tensor]:
    """A state dict of tensors, unpickling nothing else; errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(Errors.E617.format(path=path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError,
            TypeError) as err:
        raise ValueError(Errors.E618.format(path=path, error=err)) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(Errors.E618.format(path=path, error="not a dict of tensors"))
    return state


def load_weights(bilm: BiLM, model_dir: PathLike) -> BiLM:
    """Load token_embedder.pkl and encoder.pkl into ``bilm`` (built from read_options)."""
    model_dir = Path(model_dir)
    table = weight_table(bilm)
    for file in (TOKEN_EMBEDDER, ENCODER):
        path = model_dir / file
        state = load_state_dict(path)
        entries = [e for e in table if e.file == file]
        unknown = sorted(set(state) - {e.key for e in entries})
        if unknown:
            raise ValueError(Errors.E619.format(path=path, keys=unknown))
        for entry in entries:
            _check_tensor(path, entry, state.get(entry.key))
            entry.set(state[entry.key].to(torch.float32))
    bilm.weights_loaded = True
    return bilm


def _check_tensor(path: Path, entry: Entry, value: Optional[torch.Tensor]) -> None:
    if value is None:
        raise ValueError(Errors.E620.format(path=path, key=entry.key, expected=entry.shape))
    if tuple(value.shape) != tuple(entry.shape):
        raise ValueError(Errors.E621.format(
            path=path, key=entry.key, expected=entry.shape, found=tuple(value.shape)))
    if not value.is_floating_point() or not torch.isfinite(value).all():
        raise ValueError(Errors.E622.format(path=path, key=entry.key))


def load_elmoformanylangs(model_dir: PathLike, requires_grad: bool = False) -> BiLM:
    """The ELMoForManyLangs model in ``model_dir`` as our ``BiLM`` (eval mode; frozen
    unless ``requires_grad``, as ``load_allennlp``).

    ``bilm.embed(sentences)`` gives float32 (L+1, n, 2P) per sentence, each computed
    from the zero state. The original carries LSTM state across batches; for that,
    use ``Embedder(bilm, stateful=True)``. Nothing is downloaded.
    """
    options, chars, words = read_options(model_dir)
    bilm = BiLM(options)
    bilm.token_encoder.lexicon.set_entries(chars, words)
    load_weights(bilm, model_dir)
    return bilm.requires_grad_(requires_grad).eval()


def save_elmoformanylangs(bilm: BiLM, model_dir: PathLike, dropout: float = 0.0,
                          settings: Optional[Dict[str, object]] = None) -> Path:
    """Write ``bilm`` (token_encoder "efml") as an ELMoForManyLangs model folder, which
    ``load_elmoformanylangs`` and the original code read: config.json (``settings`` and
    ``config_path``), the architecture (ARCHITECTURE, with ``dropout``), char.dic /
    word.dic and the two state dicts (torch.save, tensors only). Creates the folder."""
    model_dir = Path(model_dir)
    architecture = bilm.options.to_efml_dict(dropout)  # E628 for another kind of biLM
    chars, words = bilm.token_encoder.lexicon.entries()
    lines = {CHAR_DIC: _dic_lines(model_dir / CHAR_DIC, chars),
             WORD_DIC: _dic_lines(model_dir / WORD_DIC, words) if words else None}
    model_dir.mkdir(parents=True, exist_ok=True)
    srsly.write_json(model_dir / CONFIG_NAME, {**(settings or {}), "config_path": ARCHITECTURE})
    srsly.write_json(model_dir / ARCHITECTURE, architecture)
    for name, text in lines.items():
        if text is not None:
            (model_dir / name).write_text(text, encoding="utf-8")
    table = weight_table(bilm)
    for file in (TOKEN_EMBEDDER, ENCODER):
        save_tensors({e.key: e.get().cpu() for e in table if e.file == file}, model_dir / file)
    return model_dir


def _dic_lines(path: Path, entries: List[str]) -> str:
    """``token<TAB>id`` lines that ``read_lexicon`` (and the original) read back as
    ``entries``: U+3000 is the one token written as a lone id."""
    lines = []
    for index, entry in enumerate(entries):
        if entry == LONE_ID_TOKEN:
            lines.append(f"{entry}\t{index}")
        elif entry != entry.strip() or "\t" in entry or not entry:
            raise ValueError(Errors.E629.format(path=path, entry=entry, id=index))
        else:
            lines.append(f"{entry}\t{index}")
    return "\n".join(lines) + "\n"


def _read_json(path: Path):
    if not path.is_file():
        raise FileNotFoundError(Errors.E623.format(path=path))
    try:
        return srsly.read_json(path)
    except ValueError as err:
        raise ValueError(Errors.E624.format(path=path, error=err)) from None
