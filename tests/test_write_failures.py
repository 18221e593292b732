"""Issue 23 item 4: every output is written to a temporary name and renamed; a full disk
or a read-only folder is one coded line (E510) and leaves no temporary file nor lock."""
import errno
import os
import shutil
import subprocess
import sys

import pytest

from .run_helpers import (  # noqa: F401 (fixtures)
    ENV, TINY, assert_one_fail_line, cli_pretrain, corpus, limit_file_size, resume, run_cli,
    run_copy, run_dir, snapshot)


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


@pytest.fixture
def read_only_run(run_dir, tmp_path):
    """A read-only folder holding a run. chmod 0o555 does not stop root (these tests run as
    root in CI), so root gets a tmpfs remounted read-only; without either, no test."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        shutil.copytree(run_dir, folder / "run")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        yield folder
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                           capture_output=True)
    if mount.returncode:
        pytest.skip("no read-only folder to test with: running as root without mount")
    try:
        shutil.copytree(run_dir, folder / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_is_one_line_in_every_command(read_only_run, corpus, tiny_pipeline_dir):
    before = snapshot(read_only_run)
    run = read_only_run / "run"
    results = {
        "pretrain": cli_pretrain(corpus, run, "--resume", "--training.max_steps", 3),
        "embed": run_cli("embed", corpus, read_only_run / "out.hdf5", "--model", tiny_pipeline_dir),
        "vocab": run_cli("vocab", TINY, read_only_run / "vocab.txt", "--paths.train", corpus,
                         "--corpus.tokenizer", "whitespace"),
        "evaluate": run_cli("evaluate", run, corpus, "--output", read_only_run / "scores.json"),
    }
    for command, result in results.items():
        assert_one_fail_line(result, "[E510] Could not write", f"{read_only_run}/")
    assert snapshot(read_only_run) == before
