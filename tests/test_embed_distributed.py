"""``embed`` under torchrun: every rank embeds its share, the output is one file equal to
what a single process writes."""
import json
import os
import socket
import subprocess
import sys

import h5py
import pytest
import torch.multiprocessing as mp

from spacy_elmo.embed_file import embed_file
from spacy_elmo.embed_ranks import Ranks, run

from .conftest import EWT_TEST, ROOT


def _ewt_sentences(limit):
    sentences, words = [], []
    for line in EWT_TEST.read_text(encoding="utf8").splitlines():
        cols = line.split("\t")
        if len(cols) > 1 and cols[0].isdigit():
            words.append(cols[1])
        elif not line and words:
            sentences.append(" ".join(words))
            words = []
    return sentences[:limit]


# 70 lines: EWT test sentences, line 41 repeated as line 69; with --batch-size 2 the
# embedder takes 32 lines at a time, so both ranks get chunks, and lines 41 and 69 are
# embedded by different ranks (with --shard 0/1 and 1/2 alike)
LINES = _ewt_sentences(68)
LINES += [LINES[3], LINES[41]]


def _read(path):
    with h5py.File(path, "r") as handle:
        index = handle["sentence_to_index"][0]
        return index, {k: (v.dtype, v.shape, v[...].tobytes()) for k, v in handle.items()
                       if k != "sentence_to_index"}


def _torchrun(*args, nproc=2):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         str(nproc), "-m", "spacy_elmo", "embed", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("shard", ["0/1", "1/2"])
def test_two_ranks_write_what_one_process_writes(tmp_path, tiny_files, shard):
    text = tmp_path / "in.txt"
    text.write_text("\n".join(LINES) + "\n", encoding="utf8")
    model = tiny_files[0].parent
    k, n = map(int, shard.split("/"))
    embed_file(text, tmp_path / "one.hdf5", model, shard=(k, n), batch_size=2, progress=False)
    run = _torchrun(text, tmp_path / "two.hdf5", "--model", model, "--shard", shard, "-b", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("Embedded") == 1  # said by rank 0 only
    index_one, datasets_one = _read(tmp_path / "one.hdf5")
    index_two, datasets_two = _read(tmp_path / "two.hdf5")
    assert index_two == index_one  # the same JSON string, whole input's map
    assert set(datasets_two) == {str(i) for i in range(len(LINES)) if i % n == k}
    assert datasets_two == datasets_one  # dtype, shape and bytes of every dataset
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "one.hdf5", "two.hdf5"]
    # a sentence repeated in another rank's chunk maps to its last line, as in one process
    assert json.loads(index_two)[LINES[41]] == "69"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank, world, port, folder, results):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    ranks = Ranks.from_env()
    output = folder / "out.hdf5"

    def write_part(path):
        if rank == 1:
            raise ValueError("[E999] rank 1 could not write")
        path.write_bytes(b"part of rank 0")

    try:
        run(ranks, output, lambda: None, write_part, lambda parts, tmp: tmp.write_bytes(b"merged"))
        results.put((rank, "ok"))
    except ValueError as err:
        results.put((rank, str(err)))


@pytest.mark.slow
def test_a_failing_rank_stops_every_rank_and_leaves_nothing(tmp_path):
    context = mp.get_context("spawn")
    results = context.Queue()
    port = _free_port()
    processes = [context.Process(target=_rank_main, args=(r, 2, port, tmp_path, results))
                 for r in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert sorted(results.get(timeout=5) for _ in range(2)) == [
        (0, "[E999] rank 1 could not write"), (1, "[E999] rank 1 could not write")]
    assert list(tmp_path.iterdir()) == []  # no part, no partial output, no lock


def test_a_rank_takes_its_gpu_and_its_share_of_the_cores(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    ranks = Ranks.from_env()
    assert (ranks.rank, ranks.world_size, ranks.local_rank) == (5, 8, 1)
    assert ranks.threads(16) == 4 and ranks.threads(2) == 1
    assert ranks.device("cpu") == "cpu"
    monkeypatch.setattr("torch.cuda.device_count", lambda: 4)
    assert ranks.device("cuda:2") == "cuda:3"
    with pytest.raises(ValueError, match=r"\[E901\].*GPU 4.*4 are visible"):
        ranks.device("cuda:3")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert Ranks.from_env() is None
