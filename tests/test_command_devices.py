"""One device flag (--gpu-id, as spaCy) and --threads for the commands; CUDA asked of a
torch without it is one coded line (issue 20 item 6, issue 23 item 6)."""
import os

import pytest
import torch
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.devices import default_threads, set_threads

from .conftest import ROOT
from .test_command_convert import _fails

runner = CliRunner()
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a torch without CUDA")
TINY_CONFIG = ROOT / "project" / "configs" / "pretrain_tiny.cfg"


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("the cat sat\nthe dog ran\n")
    return path


@no_cuda
def test_embed_on_cuda_without_it_is_one_line(tiny_pipeline_dir, text_file, tmp_path):
    out = tmp_path / "out.hdf5"
    result = runner.invoke(app, ["embed", str(text_file), str(out), "--model",
                                 str(tiny_pipeline_dir), "--gpu-id", "0"])
    assert "--gpu-id 0 asks for CUDA" in _fails(result, "E430")
    assert not out.exists()


@no_cuda
@pytest.mark.parametrize("flags", [["--gpu-id", "0"], ["--device", "cuda"], ["-d", "cuda:1"]])
def test_evaluate_on_cuda_without_it_is_one_line(tiny_pipeline_dir, text_file, flags):
    _fails(runner.invoke(app, ["evaluate", str(tiny_pipeline_dir), str(text_file), *flags]), "E430")


def test_evaluate_device_alias_is_hidden_and_checked(tiny_pipeline_dir, text_file):
    help_text = runner.invoke(app, ["evaluate", "--help"]).output
    assert "--gpu-id" in help_text and "--device" not in help_text
    _fails(runner.invoke(app, ["evaluate", str(tiny_pipeline_dir), str(text_file),
                               "--device", "tpu"]), "E433")


@no_cuda
@pytest.mark.parametrize("flags", [["--gpu-id", "0"], ["--training.device", "cuda"]])
def test_pretrain_on_cuda_without_it_is_one_line(text_file, tmp_path, flags):
    out = tmp_path / "run"
    result = runner.invoke(app, ["pretrain", str(TINY_CONFIG), str(out), "--paths.train",
                                 str(text_file), *flags])
    _fails(result, "E321")
    assert not out.exists()


def test_pretrain_refuses_an_unknown_device(text_file, tmp_path):
    result = runner.invoke(app, ["pretrain", str(TINY_CONFIG), str(tmp_path / "run"),
                                 "--paths.train", str(text_file), "--training.device", "gpu"])
    assert "device" in _fails(result, "E301")


def test_a_negative_gpu_id_other_than_minus_one_is_one_line(tiny_pipeline_dir, text_file, tmp_path):
    result = runner.invoke(app, ["embed", str(text_file), str(tmp_path / "o.hdf5"), "--model",
                                 str(tiny_pipeline_dir), "--gpu-id", "-2"])
    _fails(result, "E431")


@pytest.mark.parametrize("command", ["embed", "evaluate", "pretrain", "convert"])
def test_threads_must_be_positive(command, tiny_pipeline_dir, text_file, tmp_path, tiny_files):
    args = {"convert": ["convert", *map(str, tiny_files), str(tmp_path / "p")],"embed": ["embed", str(text_file), str(tmp_path / "o.hdf5"), "--model", str(tiny_pipeline_dir)],
            "evaluate": ["evaluate", str(tiny_pipeline_dir), str(text_file)],
            "pretrain": ["pretrain", str(TINY_CONFIG), str(tmp_path / "run"), "--paths.train", str(text_file)]}
    _fails(runner.invoke(app, [*args[command], "--threads", "0"]), "E432")


def test_threads_set_torch_and_default_to_the_usable_cores(monkeypatch):
    assert set_threads(2) == 2 and torch.get_num_threads() == 2
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads() == len(os.sched_getaffinity(0))
    assert set_threads(None) == default_threads() == torch.get_num_threads()


def test_default_threads_follow_omp_num_threads(monkeypatch):
    """A thread count set for the process (the demo's scripts/with_threads.py, a scheduler)
    is kept: on 2 busy cores two threads made the demo's pretraining steps ~100x slower."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert default_threads() == len(os.sched_getaffinity(0))


def test_embed_threads_runs_with_that_many(tiny_pipeline_dir, text_file, tmp_path):
    result = runner.invoke(app, ["embed", str(text_file), str(tmp_path / "o.hdf5"), "--model",
                                 str(tiny_pipeline_dir), "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 2  # conftest puts 1 back afterwards


def test_top_level_help_lists_every_command():
    text = runner.invoke(app, ["--help"]).output
    names = [c.name for c in app.registered_commands]
    assert {"convert", "embed", "pretrain", "evaluate", "vocab", "download"} <= set(names)
    for name in names:
        assert f"  {name} " in text, name
