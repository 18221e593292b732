"""Safety and clean failures: no unpickling, no destroyed files, one clear error per
expected failure, extensions in a fresh process, batch-independent mixes."""
import io
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.pretrain import load_config, pretrain
from spacy_elmo.pretrain.checkpoint import latest_checkpoint, load_checkpoint
from spacy_elmo.pretrain.evaluate import load_language_model
from spacy_elmo.torch_files import UnsafeFileError

from .component_fixtures import one_thread, tiny_files, tiny_pipeline_dir  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "project" / "configs" / "pretrain_tiny.cfg"
LINES = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn"] * 3
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
runner = CliRunner()


class Payload:
    """Unpickling this creates the file ``marker``: what a crafted file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def torch_payload(marker: Path) -> bytes:
    handle = io.BytesIO()
    torch.save({"format": "spacy-elmo-pretrain-v1", "model": Payload(marker)}, handle)
    return handle.getvalue()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line(result) -> str:
    return " ".join(result.output.split())


def test_the_payload_is_live(tmp_path):
    """The control: unpickled as torch did by default before 2.6, it creates its file."""
    marker = tmp_path / "pwned"
    torch.load(io.BytesIO(torch_payload(marker)), weights_only=False)
    assert marker.exists()


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
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


# -- 1. nothing is unpickled ---------------------------------------------------------
def test_checkpoint_holds_only_tensors_and_plain_values(run_dir):
    data = torch.load(latest_checkpoint(run_dir), weights_only=True)
    assert data["step"] == 2 and set(data["rng"][0]) == {"torch", "numpy", "python"}


@pytest.mark.parametrize("kind", ["torch", "pickle"])
def test_crafted_checkpoint_is_refused_and_runs_nothing(run_copy, corpus, tmp_path, kind):
    marker = tmp_path / "pwned"
    shutil.rmtree(run_copy / "final")  # evaluate reads the checkpoint when no export exists
    checkpoint = latest_checkpoint(run_copy)
    payload = torch_payload(marker) if kind == "torch" else pickle.dumps(Payload(marker))
    checkpoint.write_bytes(payload)
    with pytest.raises(UnsafeFileError, match=f"{checkpoint.name} is not a plain torch file"):
        load_checkpoint(checkpoint)
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and "✘" in result.output
    assert "NOT loaded" in one_line(result) and checkpoint.name in one_line(result)
    assert not marker.exists()


def test_resume_from_a_crafted_checkpoint_runs_nothing(run_copy, corpus, tmp_path):
    marker = tmp_path / "pwned"
    latest_checkpoint(run_copy).write_bytes(torch_payload(marker))
    with pytest.raises(UnsafeFileError):
        pretrain(tiny_config(corpus, training__max_steps=3), run_copy, resume=True, silent=True)
    assert not marker.exists()


def test_crafted_lm_head_is_refused_and_runs_nothing(run_copy, tmp_path):
    marker = tmp_path / "pwned"
    head = run_copy / "final" / "lm_head.pt"
    head.write_bytes(torch_payload(marker))
    with pytest.raises(UnsafeFileError, match=r"lm_head\.pt is not a plain torch file"):
        load_language_model(run_copy)
    assert not marker.exists()


def test_crafted_pipeline_model_is_refused_and_runs_nothing(tiny_pipeline_dir, tmp_path):
    marker = tmp_path / "pwned"
    pipeline = Path(shutil.copytree(tiny_pipeline_dir, tmp_path / "pipeline"))
    model_file = pipeline / "elmo" / "model"
    msg = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(msg["shims"][1][0])  # node 1: the biLM layer
    shim["state"] = torch_payload(marker)
    msg["shims"][1][0] = srsly.msgpack_dumps(shim)
    model_file.write_bytes(srsly.msgpack_dumps(msg))
    with pytest.raises(UnsafeFileError, match=r"elmo/model is not a plain torch file"):
        spacy.load(pipeline)
    assert not marker.exists()
