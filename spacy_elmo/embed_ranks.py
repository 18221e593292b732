"""``embed`` over several processes (torchrun), merged into one output file.

Under ``torchrun --nproc_per_node N [--nnodes M ...] -m spacy_elmo embed ...`` every
process sees RANK, WORLD_SIZE and LOCAL_RANK. The lines (of the ``--shard K/N`` given,
all by default) go to the embedder in chunks, as one process reads them; rank r of W
embeds the chunks r, r + W, r + 2W, ... (with ``--gpu-id N`` on GPU N + LOCAL_RANK),
into its own part file beside the output; rank 0 then copies the parts, in line order,
into the one output file, in the layout a single process writes (the user reads one
file, with one ``sentence_to_index`` for the whole input). Each chunk is batched as a
single process batches it, so the datasets are the same bytes as one process's.

Rank 0 holds the output's lock (``output_file.exclusive_lock``) from before the first
part is written until the output is renamed into place, so the parts are never another
run's. A failure on any rank stops every rank with that rank's error, after the same
collective step, and leaves neither parts nor a partial output behind. The output folder
must be shared by all nodes. The processes talk over gloo (only small status objects
go through it), whatever device they embed on.
"""
import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import torch
import torch.distributed as dist

from .errors import Errors
from .output_file import atomic_output, remove

# How long a rank waits at a collective for the others (they finish their parts at
# about the same time; rank 0's merge of a large corpus may take a while).
TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @classmethod
    def from_env(cls) -> Optional["Ranks"]:
        """The process's place under torchrun; None for a single process."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size < 2:
            return None
        return cls(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")),
                   int(os.environ.get("LOCAL_WORLD_SIZE", "1")))

    def threads(self, cores: int) -> int:
        """CPU threads per process: the node's ``cores`` shared by its processes."""
        return max(1, cores // max(1, self.local_world_size))

    def device(self, device: str) -> str:
        """Process k of a node (LOCAL_RANK) on GPU N + k when ``device`` is "cuda:N"."""
        if not device.startswith("cuda:"):
            return device
        index = int(device[len("cuda:"):]) + self.local_rank
        if index >= torch.cuda.device_count():
            raise ValueError(Errors.E901.format(
                rank=self.local_rank, index=index, count=torch.cuda.device_count()))
        return f"cuda:{index}"

    def part(self, output: Path, rank: int) -> Path:
        return output.with_name(f".{output.name}.rank{rank}-of-{self.world_size}.partial")


def run(ranks: Ranks, output: Path, check: Callable[[], None],
        write_part: Callable[[Path], None], merge: Callable[[List[Path], Path], None]) -> None:
    """``write_part(path)`` on every rank, then ``merge(parts, tmp)`` on rank 0 into the
    output (written as ``output_file.atomic_output`` does); ``check`` runs on rank 0
    once the output's lock is held. Raises on every rank if any rank failed."""
    opened = not dist.is_initialized()
    if opened:
        dist.init_process_group("gloo", timeout=TIMEOUT)
    failure: Optional[BaseException] = None
    try:
        with ExitStack() as stack:
            tmp = together(lambda: _lock(stack, ranks, output, check) if ranks.rank == 0 else None)
            together(lambda: write_part(ranks.part(output, ranks.rank)))
            parts = [ranks.part(output, r) for r in range(ranks.world_size)]
            together(lambda: merge(parts, tmp) if ranks.rank == 0 else None)
    except Exception as err:  # noqa: BLE001 (every rank must reach the last step)
        failure = err
    try:
        together(lambda: _raise(failure))  # rank 0's rename, or the error every rank saw
    finally:
        if opened:
            dist.destroy_process_group()


def _lock(stack: ExitStack, ranks: Ranks, output: Path, check: Callable[[], None]) -> Path:
    """Take the output's lock (rank 0): parts are removed before it is released."""
    tmp = stack.enter_context(atomic_output(output, check))
    for rank in range(ranks.world_size):
        stack.callback(remove, ranks.part(output, rank))
    return tmp


def _raise(error: Optional[BaseException]) -> None:
    if error is not None:
        raise error


def together(step: Callable[[], Any]) -> Any:
    """Run ``step`` on every rank; if it failed anywhere, raise on every rank: the
    rank's own error where it failed, else the first failing rank's message."""
    try:
        result, error = step(), None
    except Exception as err:  # noqa: BLE001 (sent to the other ranks, then re-raised)
        result, error = None, err
    messages: List[Optional[str]] = [None] * dist.get_world_size()
    dist.all_gather_object(messages, None if error is None else str(error))
    if error is not None:
        raise error
    first = next((m for m in messages if m is not None), None)
    if first is not None:
        raise ValueError(first)
    return result
