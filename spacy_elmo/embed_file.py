"""Embed a file of sentences into HDF5, in the layout of the original ``elmo`` command.

The output holds one float32 dataset per input line, named by the line's 0-based index
("0", "1", ...): (L+1, n_tokens, 2P) for mode "all", (n_tokens, 2P) for "top" and
"average"; and "sentence_to_index", a one-element string dataset holding the JSON map
{sentence text: index as a string} (a repeated sentence maps to its last line).
With ``shard=(K, N)`` only lines K, K+N, K+2N, ... are embedded; indexes stay global,
so the shards' files together hold every line.

The input is checked before anything is written (an empty line or invalid UTF-8 is an
error naming the file and line), and the output is written as ``output_file.py``
describes: never over the input, over an existing file only with ``force``, complete or
not at all.
"""
import codecs
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import h5py
import numpy
from tqdm import tqdm

from . import embed_ranks
from .embed_ranks import Ranks
from .errors import Errors
from .nn import BiLM, Embedder
from .nn.precision import check_compute_dtype
from .nn.windows import MAX_LENGTH, WINDOW_OVERLAP
from .output_file import atomic_output, check_output, hdf5_writer
from .pipeline_files import bilm_from_directory

MODES = ("all", "top", "average")
PathLike = Union[str, Path]


def embed_file(
    input_path: PathLike, output_path: PathLike, model: Union[PathLike, BiLM], *,
    mode: str = "all", batch_size: int = 64, shard: Tuple[int, int] = (0, 1),
    device: str = "cpu", chunk_size: int = 0, progress: bool = True, force: bool = False,
    compute_dtype: Optional[str] = None, max_length: int = MAX_LENGTH,
    window_overlap: int = WINDOW_OVERLAP,
) -> int:
    """Embed the lines of ``input_path`` into ``output_path``; returns the number written.

    model: a directory (pipeline from ``convert``, or options.json + weights.hdf5) or a
        BiLM. chunk_size: lines held in memory at once (0: 16 batches); memory stays
        bounded by it whatever the file size. force: replace an existing output.
    compute_dtype: the biLM's inference format ("float32", "bfloat16", "int8", "auto");
        None keeps the model's own (float32 unless a pipeline's config sets it).
    max_length, window_overlap: a line of more than max_length tokens is embedded in
        overlapping windows, as the spaCy component does (512 and 64 there too).
    """
    if compute_dtype is not None:
        check_compute_dtype(compute_dtype)
    if mode not in MODES:
        raise ValueError(Errors.E406.format(mode=mode))
    input_path, output_path = Path(input_path), Path(output_path)
    check_output(input_path, output_path, force)
    count = _check_lines(input_path, shard)
    # a model loaded here is only read: frozen, it keeps its packed (or reduced) weights
    # across the chunks instead of making them again for each
    bilm = model if isinstance(model, BiLM) else bilm_from_directory(model).requires_grad_(False)
    if compute_dtype is not None:
        bilm.set_compute_dtype(compute_dtype)
    ranks = Ranks.from_env()  # under torchrun: this process's part of the shard
    if ranks is not None:
        device = ranks.device(device)
    embedder = Embedder(bilm.to(device).eval(), batch_size=batch_size, max_length=max_length,
                        window_overlap=window_overlap)
    chunk_size = chunk_size or 16 * batch_size
    check = lambda: check_output(input_path, output_path, force)  # noqa: E731
    if ranks is None:
        with atomic_output(output_path, check) as tmp:
            _write(input_path, tmp, embedder, mode, shard, count, chunk_size, progress)
        return count
    embed_ranks.run(
        ranks, output_path, check,
        lambda part: _write(input_path, part, embedder, mode, shard, count, chunk_size,
                            progress and ranks.rank == 0, index=False,
                            chunks=(ranks.rank, ranks.world_size)),
        lambda parts, tmp: _merge(parts, tmp, _shard_index(input_path, shard)),
    )
    return count


def _write(input_path: Path, output_path: Path, embedder: Embedder, mode: str,
           shard: Tuple[int, int], count: int, chunk_size: int, progress: bool,
           index: bool = True, chunks: Tuple[int, int] = (0, 1)) -> None:
    """The shard's lines as datasets, and (``index``) their "sentence_to_index". The lines
    go to the embedder ``chunk_size`` at a time; with ``chunks`` (r, W) only the chunks
    r, r + W, ... are embedded (a rank's part: each chunk is batched as one process
    batches it, so the datasets are the same bits)."""
    sentence_to_index: Dict[str, str] = {}
    mine = _chunk_lines(count, chunk_size, chunks)
    with hdf5_writer(output_path) as (out, check), tqdm(
        total=mine, unit="sent", disable=not progress
    ) as bar:
        for number, chunk in enumerate(_chunked(_shard_lines(input_path, shard), chunk_size)):
            if number % chunks[1] == chunks[0]:
                _write_chunk(out, embedder, chunk, mode, sentence_to_index)
                check()  # a full disk stops the run at the chunk it happened in
                bar.update(len(chunk))
        if index:
            _write_index(out, sentence_to_index)


def _chunked(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _chunk_lines(count: int, chunk_size: int, chunks: Tuple[int, int]) -> int:
    """Lines in the chunks r, r + W, ... of ``count`` lines."""
    r, w = chunks
    return sum(min(chunk_size, count - start) for start in range(r * chunk_size, count, w * chunk_size))


def _write_index(out: h5py.File, sentence_to_index: Dict[str, str]) -> None:
    dataset = out.create_dataset("sentence_to_index", (1,), dtype=h5py.special_dtype(vlen=str))
    dataset[0] = json.dumps(sentence_to_index)


def _shard_index(path: Path, shard: Tuple[int, int]) -> Dict[str, str]:
    """{sentence: index} of the shard's lines, as ``_write`` builds it."""
    return {sentence: str(i) for i, sentence in _shard_lines(path, shard)}


def _merge(parts: List[Path], output: Path, sentence_to_index: Dict[str, str]) -> None:
    """The parts' datasets, in line order, and the index, into ``output``: the file one
    process writes for the same lines."""
    with ExitStack() as stack, hdf5_writer(output) as (out, check):
        sources = [stack.enter_context(h5py.File(part, "r")) for part in parts]
        names = sorted((int(name), source) for source in sources for name in source)
        for i, source in names:
            out.create_dataset(str(i), data=source[str(i)][...])
            check()
        _write_index(out, sentence_to_index)


def _check_lines(path: Path, shard: Tuple[int, int]) -> int:
    """Fail before writing anything if a line is empty or not UTF-8; count the shard's lines."""
    if not path.is_file():
        raise FileNotFoundError(Errors.E404.format(path=path))
    count = 0
    for i, line in enumerate(_lines(path)):
        if not line.strip():
            raise ValueError(Errors.E403.format(path=path, line=i + 1))
        count += i % shard[1] == shard[0]
    return count


def _lines(path: Path) -> Iterator[str]:
    """The lines of ``path`` (split at \\n), each decoded as UTF-8; errors name the line.
    A UTF-8 byte order mark at the start of the file is not part of the first line."""
    with path.open("rb") as handle:
        for i, raw in enumerate(handle):
            if i == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(Errors.E507.format(
                    what="Input file", path=path, line=i + 1,
                    error=f"byte {err.start}: {err.reason}")) from None


def _shard_lines(path: Path, shard: Tuple[int, int]) -> Iterator[Tuple[int, str]]:
    k, n = shard
    for i, line in enumerate(_lines(path)):
        if i % n == k:
            yield i, line.strip()


def _write_chunk(out: h5py.File, embedder: Embedder, chunk, mode: str, index: Dict) -> None:
    if not chunk:
        return
    layers = embedder([sentence.split() for _, sentence in chunk])
    for (i, sentence), array in zip(chunk, layers):
        if mode == "top":
            array = array[-1]
        elif mode == "average":
            array = numpy.mean(array, axis=0)
        out.create_dataset(str(i), data=numpy.asarray(array, dtype="float32"))
        index[sentence] = str(i)
