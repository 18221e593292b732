"""Issue 23 items 1-4: a run's files are data, no output overwrites an input, one writer
per run folder, and atomic writes that fail cleanly on a full disk or read-only folder."""
import errno
import hashlib
import shutil
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
