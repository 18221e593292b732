"""project/scripts/bilm_from_results.py: a committed biLM stands in for a pretraining run."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import srsly
import spacy
from spacy.tokens import Doc

from spacy_elmo import load_allennlp
from spacy_elmo.pretrain import evaluate, pretrain

from .test_pretrain_train import PROVERBS, tiny_config

PROJECT = Path(__file__).resolve().parents[1] / "project"
COMMITTED = ("options.json", "weights.hdf5", "lm_head.pt", "vocab.txt", "config.cfg")
pytestmark = pytest.mark.slow  # every test runs the project's scripts in a new process


def test_committed_bilm_gives_the_run_layout_and_the_same_numbers(tmp_path):
    corpus = tmp_path / "proverbs.txt"
    corpus.write_text("\n".join(PROVERBS * 4) + "\n", encoding="utf8")
    run = tmp_path / "run"
    pretrain(tiny_config(corpus, training__max_steps=4), run, silent=True)
    results = tmp_path / "results" / "bilm"  # what the project commits: no pipeline copy
    results.mkdir(parents=True)
    for name in COMMITTED:
        shutil.copyfile(run / "final" / name, results / name)
    shutil.copyfile(run / "log.jsonl", results / "log.jsonl")
    output = tmp_path / "runs" / "x" / "bilm"
    done = subprocess.run([sys.executable, "scripts/bilm_from_results.py", str(results), str(output)],
                          cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (output / "log.jsonl").read_bytes() == (run / "log.jsonl").read_bytes()
    # evaluate-lm reads it as it reads the run itself
    assert evaluate(output, corpus) == evaluate(run, corpus)
    # the pipeline holds the committed weights
    words = PROVERBS[0].split()
    expected = load_allennlp(results / "options.json", results / "weights.hdf5").embed([words])[0]
    nlp = spacy.load(output / "final" / "pipeline")
    numpy.testing.assert_allclose(nlp(Doc(nlp.vocab, words=words))._.elmo_layers, expected, atol=1e-6)


def test_an_incomplete_folder_is_named(tmp_path):
    (tmp_path / "bilm").mkdir()
    (tmp_path / "bilm" / "options.json").write_text("{}")
    done = subprocess.run([sys.executable, "scripts/bilm_from_results.py", str(tmp_path / "bilm"),
                           str(tmp_path / "out")], cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 1 and "weights.hdf5" in done.stdout and str(tmp_path / "bilm") in done.stdout
    assert not (tmp_path / "out").exists()


def test_joined_logs_count_on_from_the_first_run(tmp_path):
    first = [{"event": "corpus", "tokens": 99},
             {"step": 10, "tokens": 100, "ppl": 50.0, "elapsed_s": 5.0, "cpu_s": 4.0}]
    second = [{"event": "init", "init_bilm": "a"},
              {"step": 10, "tokens": 30, "ppl": 40.0, "elapsed_s": 2.0, "cpu_s": 1.0},
              {"event": "eval", "step": 10, "dev_average": 45.0}]
    paths = [tmp_path / name for name in ("a.jsonl", "lm.json", "b.jsonl", "out.jsonl")]
    srsly.write_jsonl(paths[0], first)
    srsly.write_json(paths[1], {"forward": 61.0, "backward": 59.0, "average": 60.0})
    srsly.write_jsonl(paths[2], second)
    done = subprocess.run([sys.executable, "scripts/join_bilm_logs.py", *map(str, paths)],
                          cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    joined = list(srsly.read_jsonl(paths[3]))
    assert joined[:2] == first
    assert joined[2] == {"event": "eval", "step": 10, "dev_forward": 61.0, "dev_backward": 59.0,
                         "dev_average": 60.0}
    assert joined[3]["continues_at"] == {"step": 10, "tokens": 100}
    assert joined[4] == {"step": 20, "tokens": 130, "ppl": 40.0, "elapsed_s": 7.0, "cpu_s": 5.0}
    assert joined[5] == {"event": "eval", "step": 20, "dev_average": 45.0}
    again = subprocess.run([sys.executable, "scripts/join_bilm_logs.py", *map(str, paths)],
                           cwd=PROJECT, capture_output=True, text=True)
    assert again.returncode == 1 and "not replaced" in again.stdout + again.stderr
