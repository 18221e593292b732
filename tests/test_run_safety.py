"""Issue 23 items 1-4: a run's files are data, no output overwrites an input, one writer
per run folder, and atomic writes that fail cleanly on a full disk or read-only folder."""
import errno
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import srsly
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.pretrain import load_config, pretrain
from spacy_elmo.pretrain.checkpoint import latest_checkpoint, load_checkpoint

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


# -- 1. run files are data, not instructions ------------------------------------------
def test_a_history_naming_a_file_outside_deletes_nothing(run_copy, corpus, tmp_path):
    """The issue's case: history ["/abs/VICTIM.txt", ...] and a resume deleted VICTIM.txt."""
    victim = tmp_path / "VICTIM.txt"
    victim.write_text("precious", encoding="utf8")
    latest = run_copy / "checkpoints" / "latest.json"
    data = srsly.read_json(latest)
    srsly.write_json(latest, {**data, "history": [str(victim), *data["history"]]})
    before = snapshot(run_copy)
    with pytest.raises(ValueError, match=r"\[E330\].*VICTIM\.txt"):
        resume(corpus, run_copy)
    assert victim.read_text(encoding="utf8") == "precious"
    assert snapshot(run_copy) == before  # nothing written nor deleted


@pytest.mark.parametrize("change", [
    {"file": "/etc/passwd.pt"}, {"file": "../../step-00000002.pt"}, {"file": "step-2.pt"},
    {"history": "step-00000001.pt"}, {"history": {"a": 1}}, {"history": [7]},
    {"history": ["../step-00000001.pt"]}, {"history": ["checkpoints/step-00000001.pt"]},
])
def test_latest_json_entries_must_be_checkpoint_names(run_copy, corpus, change):
    latest = run_copy / "checkpoints" / "latest.json"
    srsly.write_json(latest, {**srsly.read_json(latest), **change})
    before = snapshot(run_copy)
    with pytest.raises(ValueError, match=r"\[E330\]"):
        latest_checkpoint(run_copy)
    result = run_cli("pretrain", TINY, run_copy, "--resume", "--silent", "--paths.train", corpus,
                     "--paths.dev", "null", "--corpus.tokenizer", "whitespace")
    assert_one_fail_line(result, "[E330]", "nothing was written or deleted")
    assert snapshot(run_copy) == before


def test_a_checkpoint_that_links_out_is_refused(run_copy, tmp_path):
    outside = tmp_path / "elsewhere.pt"
    checkpoint = latest_checkpoint(run_copy)
    shutil.copy(checkpoint, outside)
    checkpoint.unlink()
    checkpoint.symlink_to(outside)
    with pytest.raises(ValueError, match=r"\[E331\].*symbolic link"):
        latest_checkpoint(run_copy)


def test_force_refuses_a_folder_that_holds_no_run(corpus, tmp_path):
    """The issue's case: a folder with config.cfg and final/models/best.bin lost best.bin."""
    folder = tmp_path / "project"
    (folder / "final" / "models").mkdir(parents=True)
    (folder / "final" / "models" / "best.bin").write_bytes(b"weights")
    (folder / "config.cfg").write_text('[nlp]\nlang = "en"\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"\[E332\].*not a pretraining config"):
        pretrain(tiny_config(corpus), folder, force=True, silent=True)
    (folder / "config.cfg").unlink()
    (folder / "vocab.txt").write_text("mine\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"\[E332\].*no config\.cfg"):
        pretrain(tiny_config(corpus), folder, force=True, silent=True)
    assert (folder / "final" / "models" / "best.bin").read_bytes() == b"weights"
    assert (folder / "vocab.txt").read_text(encoding="utf8") == "mine\n"


def test_force_refuses_a_run_folder_holding_other_files(run_copy, corpus):
    (run_copy / "final" / "models").mkdir()
    (run_copy / "final" / "models" / "best.bin").write_bytes(b"weights")
    (run_copy / "checkpoints" / "notes.txt").write_text("mine", encoding="utf8")
    before = snapshot(run_copy)
    with pytest.raises(ValueError, match=r"\[E333\].*checkpoints/notes\.txt, final/models/best\.bin"):
        pretrain(tiny_config(corpus), run_copy, force=True, silent=True)
    with pytest.raises(ValueError, match=r"\[E333\]"):  # a resume would replace final/ too
        resume(corpus, run_copy)
    assert snapshot(run_copy) == before


def test_force_deletes_only_what_a_run_writes(run_copy, corpus):
    (run_copy / "notes.txt").write_text("mine", encoding="utf8")
    (run_copy / "checkpoints" / "step-00000099.pt").write_bytes(b"an old run's")
    pretrain(tiny_config(corpus, training__max_steps=1), run_copy, force=True, silent=True)
    assert (run_copy / "notes.txt").read_text(encoding="utf8") == "mine"
    assert sorted(p.name for p in (run_copy / "checkpoints").iterdir()) == [
        "latest.json", "step-00000001.pt"]
    assert load_checkpoint(latest_checkpoint(run_copy))["step"] == 1


# -- 2. no output overwrites an input ----------------------------------------------------
def test_evaluate_output_is_never_its_text(run_dir, corpus, tmp_path):
    """The issue's case: evaluate --output TEXT replaced the held-out text by the JSON."""
    text = Path(shutil.copy(corpus, tmp_path / "heldout.txt"))
    before = text.read_bytes()
    link = tmp_path / "scores.json"
    link.symlink_to(text)
    for output in (text, link):
        result = run_cli("evaluate", run_dir, text, "--output", output)
        assert_one_fail_line(result, "[E503]", "is the input file")
    folder = tmp_path / "texts"
    folder.mkdir()
    shutil.copy(corpus, folder / "a.txt")
    result = run_cli("evaluate", run_dir, folder, "--output", folder / "scores.json")
    assert_one_fail_line(result, "[E509]", f"inside the input folder {folder}")
    result = run_cli("evaluate", run_dir, text, "--output", run_dir / "final" / "vocab.txt")
    assert_one_fail_line(result, "[E509]")
    assert text.read_bytes() == before and not (folder / "scores.json").exists()


def test_evaluate_output_is_written_atomically(run_dir, corpus, tmp_path):
    output = tmp_path / "scores.json"
    output.write_text("old", encoding="utf8")
    result = run_cli("evaluate", run_dir, corpus, "--output", output)
    assert result.exit_code == 0, result.output
    scores = srsly.read_json(output)
    assert set(scores) == {"forward", "backward", "average"} and scores["average"] > 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.json"]  # no lock, no temp


def test_vocab_output_is_never_its_corpus_or_config(corpus, tmp_path):
    text = Path(shutil.copy(corpus, tmp_path / "corpus.txt"))
    config = Path(shutil.copy(TINY, tmp_path / "pretrain.cfg"))
    before = text.read_bytes(), config.read_bytes()
    for output in (text, config):
        result = run_cli("vocab", config, output, "--paths.train", text,
                         "--corpus.tokenizer", "whitespace")
        assert_one_fail_line(result, "[E503]", f"is the input file {output}")
    folder = tmp_path / "texts"
    folder.mkdir()
    shutil.copy(corpus, folder / "a.txt")
    result = run_cli("vocab", config, folder / "vocab.txt", "--paths.train", folder,
                     "--corpus.tokenizer", "whitespace")
    assert_one_fail_line(result, "[E509]")
    assert (text.read_bytes(), config.read_bytes()) == before
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]


def test_pretrain_output_inside_the_corpus_folder_is_refused(corpus, tmp_path):
    """The issue's case: the run's own config.cfg was read as training text."""
    folder = tmp_path / "texts"
    folder.mkdir()
    shutil.copy(corpus, folder / "a.txt")
    with pytest.raises(ValueError, match=r"\[E509\].*inside the input folder"):
        pretrain(tiny_config(folder), folder / "run", silent=True)
    with pytest.raises(ValueError, match=r"\[E509\]"):
        pretrain(tiny_config(corpus, paths__dev=str(folder)), folder, silent=True)
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]


def test_pretrain_inputs_are_never_the_runs_own_files(run_copy, corpus):
    before = snapshot(run_copy)
    with pytest.raises(ValueError, match=r"\[E335\].*init_bilm.*\(final\)"):
        pretrain(tiny_config(corpus, paths__init_bilm=str(run_copy / "final")), run_copy,
                 force=True, silent=True)
    with pytest.raises(ValueError, match=r"\[E335\].*vocab.*\(vocab\.txt\)"):
        pretrain(tiny_config(corpus, paths__vocab=str(run_copy / "vocab.txt")), run_copy,
                 force=True, silent=True)
    assert snapshot(run_copy) == before


# -- 3. one writer per run folder --------------------------------------------------------
def cli_pretrain(corpus: Path, output: Path, *extra):
    return run_cli("pretrain", TINY, output, "--silent", "--paths.train", corpus, "--paths.dev",
                   "null", "--corpus.tokenizer", "whitespace", "--training.batch_size", 2,
                   "--training.vocab_size", 20, "--training.n_samples", 8, "--training.mode",
                   "sentence", "--training.checkpoint_every", 1, *extra)


def test_a_second_pretrain_into_a_running_folder_is_refused(run_copy, corpus, tmp_path):
    from spacy_elmo.pretrain.run_folder import LOCK_FILE, run_lock

    before = snapshot(run_copy)
    fresh = tmp_path / "fresh"
    with run_lock(run_copy), run_lock(fresh):  # what a running pretrain holds
        before_fresh = snapshot(fresh)
        for output, extra in ((run_copy, ["--resume"]), (run_copy, ["--force"]),
                              (run_copy, ["--resume", "--force"]), (fresh, [])):
            result = cli_pretrain(corpus, output, "--training.max_steps", 3, *extra)
            assert_one_fail_line(result, "[E334]", f"{output} is in use by another pretraining "
                                 f"process (pid {os.getpid()}", LOCK_FILE)
        assert snapshot(fresh) == before_fresh
    assert snapshot(run_copy) == before
    assert not fresh.exists()  # created for the lock, removed empty


@pytest.mark.slow  # starts torchrun
def test_under_torchrun_every_process_refuses_a_running_folder(corpus, tmp_path):
    """Only the main process (the writer) takes the lock; its refusal reaches every rank."""
    from spacy_elmo.pretrain.run_folder import run_lock

    output = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               "2", "-m", "spacy_elmo", "pretrain", str(TINY), str(output), "--silent",
               "--paths.train", str(corpus), "--paths.dev", "null", "--corpus.tokenizer",
               "whitespace", "--training.batch_size", "4", "--training.max_steps", "2"]
    with run_lock(output):
        run = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
        assert sorted(p.name for p in output.iterdir()) == ["pretrain.lock"]
    assert run.returncode == 1
    assert " ".join(run.stdout.split()).count(f"[E334] Output folder {output} is in use") == 2


def test_the_lock_of_a_dead_process_is_taken_over(run_copy, corpus):
    from spacy_elmo.pretrain.run_folder import LOCK_FILE

    (run_copy / LOCK_FILE).write_text("999999999\n", encoding="utf8")  # no flock: its holder died
    resume(corpus, run_copy)
    assert load_checkpoint(latest_checkpoint(run_copy))["step"] == 3
    assert not (run_copy / LOCK_FILE).exists()


# -- 4. atomic writes, one line on a full disk or a read-only folder -----------------------
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failed_checkpoint_write_is_one_line_and_leaves_nothing(run_copy, corpus, monkeypatch,
                                                                  code):
    """Today a full disk raised torch's raw inline_container.cc RuntimeError."""
    import torch

    from spacy_elmo import torch_files

    save = torch.save

    def failing(obj, target):
        save(obj, target)
        raise OSError(code, os.strerror(code))  # after writing the file's bytes

    monkeypatch.setattr(torch_files.torch, "save", failing)
    before = snapshot(run_copy)
    result = cli_pretrain(corpus, run_copy, "--training.max_steps", 3, "--resume",
                          "--training.keep_checkpoints", 1)
    assert_one_fail_line(result, "[E510]", "step-00000003.pt", os.strerror(code))
    left = snapshot(run_copy)
    assert [name for name in left if ".tmp" in name or name.endswith(".lock")] == []
    assert {k: v for k, v in left.items() if k.startswith("checkpoints")} == {
        k: v for k, v in before.items() if k.startswith("checkpoints")}  # the last good one


def test_leftovers_of_a_killed_run_are_cleaned_on_the_next_run(run_copy, corpus):
    from spacy_elmo.pretrain.run_folder import LOCK_FILE

    stale = [run_copy / "checkpoints" / ".step-00000003.pt.tmp999999999",
             run_copy / "checkpoints" / ".latest.json.tmp999999999",
             run_copy / ".log.jsonl.tmp999999999", run_copy / ".final.tmp999999999" / "lm_head.pt",
             run_copy / ".final.old999999999" / "pipeline" / "meta.json", run_copy / LOCK_FILE]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    resume(corpus, run_copy)
    assert not any(path.exists() for path in stale)
    assert not any(p.name.startswith(".") for p in run_copy.rglob("*"))


def test_a_failed_vocab_or_evaluate_write_leaves_the_old_output(run_dir, corpus, tmp_path,
                                                                 monkeypatch):
    import srsly as srsly_module

    from spacy_elmo.pretrain.vocab import Vocab

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    vocab, scores = tmp_path / "vocab.txt", tmp_path / "scores.json"
    vocab.write_text("old", encoding="utf8")
    scores.write_text("old", encoding="utf8")
    monkeypatch.setattr(Vocab, "to_disk", full_disk)
    monkeypatch.setattr(srsly_module, "write_json", full_disk)
    result = run_cli("vocab", TINY, vocab, "--paths.train", corpus, "--corpus.tokenizer", "whitespace")
    assert_one_fail_line(result, f"[E510] Could not write {vocab}: No space left on device")
    result = run_cli("evaluate", run_dir, corpus, "--output", scores)
    assert_one_fail_line(result, f"[E510] Could not write {scores}: No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.json", "vocab.txt"]
    assert vocab.read_text(encoding="utf8") == scores.read_text(encoding="utf8") == "old"


def limit_file_size(size: int):
    """For a subprocess: files can grow to ``size`` bytes, a longer write fails with EFBIG
    (a full disk, without root or a mount)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


@pytest.mark.slow  # starts a process
def test_embed_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, tiny_pipeline_dir):
    """Today: 11,248 h5py tracebacks, then SIGSEGV."""
    text = tmp_path / "in.txt"
    text.write_text("the cat sat on the mat\nshort one\n" * 150, encoding="utf8")
    output = tmp_path / "out" / "embedded.hdf5"
    command = [sys.executable, "-m", "spacy_elmo", "embed", str(text), str(output), "--model",
               str(tiny_pipeline_dir), "--batch-size", "8"]
    run = subprocess.run(command, env=ENV, capture_output=True, text=True,
                         preexec_fn=limit_file_size(60_000))
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-3000:]
    assert f"[E510] Could not write {output}: File too large" in " ".join(run.stdout.split())
    assert list(output.parent.iterdir()) == []  # no .partial, no .lock


@pytest.mark.slow  # starts a process
def test_pretrain_on_a_full_disk_is_one_line_and_leaves_nothing(corpus, tmp_path):
    """Today: torch's raw ``inline_container.cc`` RuntimeError, and the temporary file stays."""
    output = tmp_path / "run"
    command = [sys.executable, "-m", "spacy_elmo", "pretrain", str(TINY), str(output), "--silent",
               "--paths.train", str(corpus), "--paths.dev", "null", "--corpus.tokenizer",
               "whitespace", "--training.batch_size", "2", "--training.max_steps", "1",
               "--training.vocab_size", "20", "--training.n_samples", "8"]
    run = subprocess.run(command, env=ENV, capture_output=True, text=True,
                         preexec_fn=limit_file_size(100_000))  # config, vocab, log fit; not a checkpoint
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-3000:]
    expected = f"[E510] Could not write {output / 'checkpoints' / 'step-00000001.pt'}: File too large"
    assert expected in " ".join(run.stdout.split()), run.stdout
    assert not output.exists() or list(output.iterdir()) == []  # a new run leaves nothing


def test_a_failed_log_append_leaves_no_half_line(tmp_path, monkeypatch):
    from spacy_elmo import output_file
    from spacy_elmo.output_file import WriteFailed, append_line

    log = tmp_path / "log.jsonl"
    append_line(log, '{"step": 1}')
    write = os.write

    def half_then_full(fd, data):  # the disk fills up in the middle of the record
        if len(data) > 4:
            return write(fd, bytes(data[:4]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output_file.os, "write", half_then_full)
    with pytest.raises(WriteFailed, match=r"\[E510\] Could not write .*log\.jsonl: No space left"):
        append_line(log, '{"step": 2, "loss": 3.5}')
    monkeypatch.undo()
    assert log.read_text(encoding="utf8") == '{"step": 1}\n'


def test_pretrain_into_a_file_is_one_line(corpus, tmp_path):
    output = tmp_path / "run.txt"
    output.write_text("mine", encoding="utf8")
    assert_one_fail_line(cli_pretrain(corpus, output), f"[E336] Output folder {output} is a file")
    assert output.read_text(encoding="utf8") == "mine"
