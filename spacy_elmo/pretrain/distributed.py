"""Data parallelism with torch.distributed, set up from the environment torchrun gives.

Under ``torchrun --nproc_per_node N`` every process sees WORLD_SIZE, RANK and
LOCAL_RANK; the process group uses gloo on CPU and nccl on GPU. Without them the run
is a single process and every collective below is the identity.
"""
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

import torch
import torch.distributed as dist

from ..errors import Errors


@dataclass
class Distributed:
    rank: int
    world_size: int
    device: torch.device

    @classmethod
    def setup(cls, device: str = "auto") -> "Distributed":
        """Pick the device ("auto", "cpu", "cuda", "cuda:N") and join the process group if any."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(Errors.E321.format(device=device))
        use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        first = int(device[5:]) if device.startswith("cuda:") else 0  # --gpu-id N
        if use_cuda and first + local_rank >= torch.cuda.device_count():
            raise ValueError(Errors.E431.format(
                what="training.device", gpu_id=device,
                found=f"cuda:N with N + processes <= {torch.cuda.device_count()}"))
        target = torch.device("cuda", first + local_rank) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(target)
        if world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        return cls(rank, world_size, target)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1 and dist.is_initialized()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def gather(self, obj: Any) -> Optional[List[Any]]:
        """Every process's ``obj``, on the main process (None elsewhere)."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the main process and give its result (or its error) to all."""
        result: List[Any] = [None, None]
        if self.is_main:
            try:
                result = [fn(), None]
            except Exception as err:  # re-raised on every process below
                result = [None, err]
        if self.active:
            dist.broadcast_object_list(result, src=0)
        if result[1] is not None:
            raise result[1]
        return result[0]

    def close(self) -> None:
        if self.active:
            dist.destroy_process_group()
