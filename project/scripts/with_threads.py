"""Run a command with N CPU threads for torch and BLAS: `python scripts/with_threads.py N CMD...`.

Sets OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS for the command and its
children (spaCy projects cannot set environment variables themselves). The demo runs its
nested workflow with one thread per process: its models are tiny, and on a few shared cores
one thread is several times faster than threads that wait for each other.
"""
import os
import subprocess
import sys


def main(argv) -> int:
    if len(argv) < 2 or not argv[0].isdigit() or int(argv[0]) < 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = argv[0]
    command = argv[1:]
    if command[0] in ("python", "python3"):
        command[0] = sys.executable  # the interpreter running the project, as weasel does
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
