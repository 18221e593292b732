"""``python -m spacy_elmo embed``: sentences in, HDF5 of ELMo layers out (original layout)."""
import os
from pathlib import Path
from typing import Optional, Tuple

import typer
from wasabi import msg

from .._cli_app import app
from ..errors import Errors
from ..output_file import WriteFailed  # no torch, no h5py


def parse_shard(value: str) -> Tuple[int, int]:
    """"K/N" -> (K, N) with 0 <= K < N."""
    try:
        k, n = (int(part) for part in value.split("/"))
    except ValueError:
        raise ValueError(Errors.E402.format(value=value)) from None
    if not 0 <= k < n:
        raise ValueError(Errors.E402.format(value=value))
    return k, n


def _mode(all_layers: bool, top: bool, average: bool) -> str:
    flags = (("all", all_layers), ("top", top), ("average", average))
    chosen = [mode for mode, flag in flags if flag]
    if len(chosen) > 1:
        raise ValueError(Errors.E401)
    return chosen[0] if chosen else "all"


@app.command("embed")
def embed_cli(
    input_txt: Path = typer.Argument(
        ..., help="One whitespace-tokenized sentence per line", dir_okay=False),
    output_hdf5: Path = typer.Argument(..., help="HDF5 file to write", dir_okay=False),
    model: Optional[Path] = typer.Option(
        None, "--model", "-m",
        help="Pipeline dir from 'convert', a dir with options.json + weights.hdf5, or an "
        "ELMoForManyLangs model folder"),
    all_layers: bool = typer.Option(
        False, "--all", help="Write all L+1 layers: (L+1, n, 2P) (default)"),
    top: bool = typer.Option(False, "--top", help="Write the top layer only: (n, 2P)"),
    average: bool = typer.Option(
        False, "--average", help="Write the average of the layers: (n, 2P)"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Sentences per biLM batch"),
    shard: str = typer.Option("0/1", "--shard", help="K/N: embed only lines K, K+N, K+2N, ..."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="CUDA device, -1 for CPU"),
    threads: Optional[int] = typer.Option(
        None, "--threads", "-t", help="CPU threads of torch (default: the cores this "
        "process may use; on cores busy with other jobs 1 can be much faster)"),
    force: bool = typer.Option(False, "--force", "-F", help="Replace an existing OUTPUT_HDF5"),
    compute_dtype: Optional[str] = typer.Option(
        None, "--compute-dtype",
        help="biLM inference format: float32, bfloat16, int8 or auto (default: the model's, "
        "float32 unless its config says otherwise)"),
) -> None:
    """Embed a text file as the original 'elmo' command does.

    The HDF5 file holds a dataset per line index ("0", "1", ...) and
    "sentence_to_index", a JSON map from sentence to index. Under `torchrun
    --nproc_per_node N` each process embeds its share of the lines (with --gpu-id G,
    process k of a node on GPU G+k) and the shares are merged into the one OUTPUT_HDF5."""
    try:
        if model is None:
            raise ValueError(Errors.E400)
        if batch_size < 1:
            raise ValueError(Errors.E405.format(value=batch_size))
        mode, shard_k_n = _mode(all_layers, top, average), parse_shard(shard)
        if not input_txt.is_file():
            raise FileNotFoundError(Errors.E404.format(path=input_txt))
        from ..devices import default_threads, device_for, set_threads  # torch
        from ..embed_file import embed_file  # torch, h5py
        from ..embed_ranks import Ranks

        device = device_for(gpu_id)
        ranks = Ranks.from_env()  # under torchrun: the node's cores shared by its processes
        set_threads(threads if threads is not None or ranks is None else ranks.threads(default_threads()))

        n = embed_file(input_txt, output_hdf5, model, mode=mode, batch_size=batch_size,
                       shard=shard_k_n, device=device, force=force, compute_dtype=compute_dtype)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError, WriteFailed) as err:
        msg.fail(str(err), exits=1)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun: said once, by rank 0
        msg.good(f"Embedded {n} sentences", str(output_hdf5))
