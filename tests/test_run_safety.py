"""Issue 23 items 1-3: a run's files are data, no output overwrites an input, one
writer per run folder."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from spacy_elmo.pretrain import pretrain
from spacy_elmo.pretrain.checkpoint import latest_checkpoint, load_checkpoint

from .run_helpers import (  # noqa: F401 (fixtures)
    ENV, TINY, assert_one_fail_line, cli_pretrain, corpus, resume, run_cli, run_copy, run_dir,
    snapshot, tiny_config)


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


def test_pretrain_into_a_file_is_one_line(corpus, tmp_path):
    output = tmp_path / "run.txt"
    output.write_text("mine", encoding="utf8")
    assert_one_fail_line(cli_pretrain(corpus, output), f"[E336] Output folder {output} is a file")
    assert output.read_text(encoding="utf8") == "mine"
