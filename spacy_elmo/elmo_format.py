"""Read and write the original ELMo files: options.json and weights.hdf5.

This module is the only code that knows the HDF5 layout of bilm-tf. Every conversion
happens in ``_to_torch`` / ``_to_file``, which are exact inverses of each other.
"""
import json
from pathlib import Path
from typing import Callable, List, NamedTuple, Tuple, Union

import h5py
import numpy
import srsly
import torch

from .errors import Errors
from .output_file import hdf5_writer
from .nn.bilm import BiLM
from .nn.options import ElmoOptions

PathLike = Union[str, Path]
LSTM_PREFIX = "RNN_{d}/RNN/MultiRNNCell/Cell{l}/LSTMCell/"
# Extra datasets of ours; other ELMo readers ignore them.
INITIAL_STATE = "spacy_elmo/initial_state_{part}"


def _tf_to_torch_gates(w: numpy.ndarray, c: int) -> numpy.ndarray:
    # TF packs gates (i, j=new memory, f, o); ours are (i, f, o, g) so that one sigmoid
    # covers the first 3C columns.
    i, j, f, o = (w[..., k * c : (k + 1) * c] for k in range(4))
    return numpy.concatenate([i, f, o, j], axis=-1)


def _torch_to_tf_gates(w: numpy.ndarray, c: int) -> numpy.ndarray:
    i, f, o, j = (w[..., k * c : (k + 1) * c] for k in range(4))
    return numpy.concatenate([i, j, f, o], axis=-1)


def read_options(path: PathLike) -> ElmoOptions:
    """Parse and validate options.json; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E001.format(path=path))
    if path.is_dir():
        raise ValueError(Errors.E508.format(what="Options file", path=path, name="options.json"))
    try:
        cfg = srsly.read_json(path)
    except ValueError as err:
        raise ValueError(Errors.E002.format(path=path, error=err)) from None
    try:
        return ElmoOptions.from_dict(cfg)
    except KeyError as err:
        raise ValueError(Errors.E003.format(path=path, problem=f"missing key {err}")) from None
    except (TypeError, ValueError) as err:
        raise ValueError(Errors.E003.format(path=path, problem=err)) from None


def write_options(options: ElmoOptions, path: PathLike) -> None:
    Path(path).write_text(json.dumps(options.to_dict(), indent=2) + "\n", encoding="utf8")


class Entry(NamedTuple):
    """One dataset of the weights file and how it maps onto our parameters."""

    name: str
    shape: Tuple[int, ...]
    get: Callable[[], numpy.ndarray]  # ours -> file layout
    set: Callable[[numpy.ndarray], None]  # file layout -> ours


def _param(tensor: torch.Tensor, index=None) -> Callable[[numpy.ndarray], None]:
    def assign(value: numpy.ndarray) -> None:
        target = tensor if index is None else tensor[index]
        with torch.no_grad():
            target.copy_(torch.from_numpy(numpy.ascontiguousarray(value)))
    return assign


def _np(tensor: torch.Tensor) -> numpy.ndarray:
    return tensor.detach().cpu().numpy()


def weight_table(bilm: BiLM) -> List[Entry]:
    """Our parameter <-> HDF5 dataset table, with each conversion and why (bilm-tf layout)."""
    opts, enc = bilm.options, bilm.token_encoder
    C, D = opts.lstm_dim, opts.char_dim
    emb = enc.char_embedding.weight
    table = [
        # The file has no row for padding id 0 (ids are shifted by +1): a zero row goes first.
        Entry("char_embed", (emb.shape[0] - 1, D), lambda: _np(emb[1:]),
              lambda a: _param(emb)(numpy.concatenate([numpy.zeros_like(a[:1]), a]))),
    ]
    for i, (conv, (width, n)) in enumerate(zip(enc.convs, opts.filters)):
        # TF conv2d kernel (1, width, D, n) <-> torch Conv1d weight (n, D, width)
        table.append(Entry(f"CNN/W_cnn_{i}", (1, width, D, n),
                           lambda c=conv: _np(c.weight.permute(2, 1, 0))[None],
                           lambda a, c=conv: _param(c.weight)(a[0].transpose(2, 1, 0))))
        table.append(_plain(f"CNN/b_cnn_{i}", conv.bias))
    for k in range(opts.n_highway):
        for part in ("carry", "transform"):
            lin = getattr(enc.highway, part)[k]
            table.append(_transposed(f"CNN_high_{k}/W_{part}", lin.weight))
            table.append(_plain(f"CNN_high_{k}/b_{part}", lin.bias))
    if enc.projection is not None:
        table.append(_transposed("CNN_proj/W_proj", enc.projection.weight))
        table.append(_plain("CNN_proj/b_proj", enc.projection.bias))
    for l, layer in enumerate(bilm.lstm.layers):
        for d in range(2):
            table.extend(_lstm_table(LSTM_PREFIX.format(d=d, l=l), layer, d, C))
    return table


def _plain(name: str, tensor: torch.Tensor, index=None) -> Entry:
    target = tensor if index is None else tensor[index]
    return Entry(name, tuple(target.shape), lambda: _np(target), _param(tensor, index))


def _transposed(name: str, weight: torch.Tensor) -> Entry:
    # TF computes x @ W; torch Linear stores W transposed.
    return Entry(name, tuple(weight.shape[::-1]), lambda: _np(weight.T),
                 lambda a: _param(weight)(a.T))


def _lstm_table(prefix: str, layer, d: int, C: int) -> List[Entry]:
    d_in = layer.w_input.shape[1]

    def set_w0(a: numpy.ndarray) -> None:
        # W_0 stacks input rows over recurrent rows ([x; h] @ W_0); gates reordered.
        gates = _tf_to_torch_gates(a, C)
        _param(layer.w_input, d)(gates[:d_in])
        _param(layer.w_hidden, d)(gates[d_in:])

    def get_w0() -> numpy.ndarray:
        both = numpy.concatenate([_np(layer.w_input[d]), _np(layer.w_hidden[d])])
        return _torch_to_tf_gates(both, C)

    return [
        Entry(prefix + "W_0", (d_in + layer.proj_dim, 4 * C), get_w0, set_w0),
        # Gate order converted; TF's forget_bias +1 is added at run time, never stored.
        Entry(prefix + "B", (4 * C,), lambda: _torch_to_tf_gates(_np(layer.bias[d]), C),
              lambda a: _param(layer.bias, d)(_tf_to_torch_gates(a, C))),
        _plain(prefix + "W_P_0", layer.w_proj, d),
    ]


def load_weights(bilm: BiLM, path: PathLike) -> BiLM:
    """Load an original-format weights file into ``bilm``; errors name file and dataset."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E004.format(path=path))
    if path.is_dir():
        raise ValueError(Errors.E508.format(what="Weights file", path=path, name="weights.hdf5"))
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(Errors.E005.format(path=path, error=err)) from None
    with handle:
        for entry in weight_table(bilm):
            entry.set(_read_dataset(handle, path, entry.name, entry.shape))
        if INITIAL_STATE.format(part="h") in handle:
            h = _read_dataset(handle, path, INITIAL_STATE.format(part="h"), tuple(bilm.initial_h.shape))
            c = _read_dataset(handle, path, INITIAL_STATE.format(part="c"), tuple(bilm.initial_c.shape))
            _param(bilm.initial_h)(h)
            _param(bilm.initial_c)(c)
    bilm.weights_loaded = True
    return bilm


def _read_dataset(handle: h5py.File, path: Path, name: str, shape: Tuple[int, ...]) -> numpy.ndarray:
    dataset = _find_dataset(handle, path, name, shape)
    if tuple(dataset.shape) != tuple(shape):
        raise ValueError(Errors.E007.format(
            path=path, dataset=name, expected=tuple(shape), found=tuple(dataset.shape)))
    if dataset.dtype.kind not in "fiu":  # complex, strings, compounds: not weights
        raise ValueError(Errors.E020.format(path=path, dataset=name, dtype=dataset.dtype))
    try:
        value = numpy.asarray(dataset[...], dtype=numpy.float32)
    except OSError as err:  # a damaged chunk, a missing filter
        raise ValueError(Errors.E005.format(path=path, error=f"dataset '{name}': {err}")) from None
    if not numpy.isfinite(value).all():
        raise ValueError(Errors.E012.format(path=path, dataset=name))
    return value


def _find_dataset(handle: h5py.File, path: Path, name: str, shape: Tuple[int, ...]) -> h5py.Dataset:
    """The dataset ``name``; E006 when there is none (a missing name, a link that leads
    nowhere), E021 when a group (or another kind of object) stands in its place."""
    try:
        found = handle.get(name)
    except (KeyError, OSError, ValueError):  # an external link to a missing file
        found = None
    if found is None:
        link = handle.get(name, getlink=True) if name in handle else None
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            target = link.path if isinstance(link, h5py.SoftLink) else f"{link.filename}:{link.path}"
            raise ValueError(Errors.E022.format(path=path, dataset=name, target=target))
        raise ValueError(Errors.E006.format(path=path, dataset=name, expected=shape))
    if not isinstance(found, h5py.Dataset):
        raise ValueError(Errors.E021.format(
            path=path, dataset=name, kind=type(found).__name__, expected=shape))
    return found


def save_weights(bilm: BiLM, path: PathLike) -> None:
    """Write ``bilm`` in the original HDF5 layout (float32), plus our initial state."""
    with hdf5_writer(Path(path)) as (handle, _):  # a failed write: one WriteFailed error
        for entry in weight_table(bilm):
            handle.create_dataset(entry.name, data=entry.get().astype(numpy.float32))
        if bool(bilm.initial_h.any() or bilm.initial_c.any()):
            handle.create_dataset(INITIAL_STATE.format(part="h"), data=_np(bilm.initial_h))
            handle.create_dataset(INITIAL_STATE.format(part="c"), data=_np(bilm.initial_c))


def load_allennlp(
    options_file: PathLike, weight_file: PathLike, compute_dtype: str = "float32",
    requires_grad: bool = False,
) -> BiLM:
    """Build the biLM described by ``options_file`` and load ``weight_file`` into it.
    ``compute_dtype``: the format of its inference matmuls ("float32", "bfloat16", "int8"
    or "auto"; see ``spacy_elmo.nn.precision``). ``requires_grad``: False (as AllenNLP's
    ``Elmo``) gives a frozen biLM, whose packed weights and token vectors are kept across
    calls; True for a biLM you train in your own loop (derived values rebuilt every call)."""
    bilm = BiLM(read_options(options_file))
    load_weights(bilm, weight_file)
    return bilm.set_compute_dtype(compute_dtype).requires_grad_(requires_grad).eval()


def save_allennlp(bilm: BiLM, options_file: PathLike, weight_file: PathLike) -> None:
    """Write options.json and weights.hdf5 in the original layout, creating their folders."""
    for path in (options_file, weight_file):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_options(bilm.options, options_file)
    save_weights(bilm, weight_file)
