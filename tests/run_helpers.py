"""Helpers of the run-folder and output-file safety tests (issue 23 items 1-4): a tiny
pretraining run, the CLI in process, a snapshot of a folder's files."""
import hashlib
import os
import resource
import shutil
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.pretrain import load_config, pretrain

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "project" / "configs" / "pretrain_tiny.cfg"
LINES = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn"] * 3
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_fail_line(result, *expected: str) -> None:
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].count("✘") == 1, result.output
    for text in expected:
        assert text in " ".join(result.output.split()), result.output


def snapshot(folder: Path) -> dict:
    """Every file below ``folder`` (links not followed) with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            if p.is_file() and not p.is_symlink() else "link"
            for p in sorted(folder.rglob("*")) if not p.is_dir() or p.is_symlink()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf8")
    return path


def tiny_config(train: Path, **overrides):
    settings = {"paths.train": str(train), "paths.dev": None, "corpus.tokenizer": "whitespace",
                "training.batch_size": 2, "training.max_steps": 2, "training.checkpoint_every": 1,
                "training.vocab_size": 20, "training.n_samples": 8, "training.mode": "sentence"}
    settings.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(TINY, settings)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, corpus) -> Path:
    output = tmp_path_factory.mktemp("run") / "out"
    pretrain(tiny_config(corpus), output, silent=True)
    return output


@pytest.fixture
def run_copy(run_dir, tmp_path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run", symlinks=True))


def resume(corpus: Path, output: Path, **overrides):
    config = tiny_config(corpus, training__max_steps=3, training__keep_checkpoints=1, **overrides)
    return pretrain(config, output, resume=True, silent=True)


def cli_pretrain(corpus: Path, output: Path, *extra):
    return run_cli("pretrain", TINY, output, "--silent", "--paths.train", corpus, "--paths.dev",
                   "null", "--corpus.tokenizer", "whitespace", "--training.batch_size", 2,
                   "--training.vocab_size", 20, "--training.n_samples", 8, "--training.mode",
                   "sentence", "--training.checkpoint_every", 1, *extra)


def limit_file_size(size: int):
    """For a subprocess: files can grow to ``size`` bytes, a longer write fails with EFBIG
    (a full disk, without root or a mount)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply
