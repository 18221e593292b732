"""The device and CPU threads of a command: ``--gpu-id`` (as spaCy: -1 the CPU, N the
CUDA device N) and ``--threads``, checked before anything runs: CUDA asked of a torch
without it is one coded line, not torch's traceback."""
import os
from typing import Optional

from .errors import Errors


def default_threads() -> int:
    """OMP_NUM_THREADS when it is set to a positive number (as torch and MKL read it: a
    user's or a scheduler's choice, e.g. the project's scripts/with_threads.py), else the
    cores this process may run on (os.sched_getaffinity where the OS has it)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def set_threads(threads: Optional[int]) -> int:
    """Set torch's CPU threads (intra-op) to ``threads`` (None: ``default_threads()``)."""
    import torch

    n = default_threads() if threads is None else threads
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(Errors.E432.format(value=threads))
    torch.set_num_threads(int(n))
    return int(n)


def check_gpu_id(gpu_id: int, what: str = "--gpu-id") -> None:
    """ValueError (E430/E431) unless ``gpu_id`` is -1 or a CUDA device torch can use."""
    if gpu_id < 0:
        if gpu_id != -1:
            raise ValueError(Errors.E431.format(what=what, gpu_id=gpu_id, found="-1 (CPU) or 0..N-1"))
        return
    import torch

    if not torch.cuda.is_available():
        build = "a CPU build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}, no device found"
        raise ValueError(Errors.E430.format(what=what, gpu_id=gpu_id, version=torch.__version__, build=build))
    count = torch.cuda.device_count()
    if gpu_id >= count:
        raise ValueError(Errors.E431.format(what=what, gpu_id=gpu_id, found=f"-1 (CPU) or 0..{count - 1}"))


def device_for(gpu_id: int, what: str = "--gpu-id") -> str:
    """"cpu" for -1, "cuda:N" for N, after ``check_gpu_id``."""
    check_gpu_id(gpu_id, what)
    return "cpu" if gpu_id < 0 else f"cuda:{gpu_id}"


def gpu_id_from_device(device: str) -> int:
    """The --gpu-id of an old --device value: "cpu" -1, "cuda" 0, "cuda:N" N."""
    if device == "cpu":
        return -1
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ValueError(Errors.E433.format(device=device))
