"""Pretraining runs: learning, exact resume after a kill, data parallelism, exports, errors."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy
import pytest
import srsly
import torch

from typer.testing import CliRunner

from spacy_elmo import BiLM, load_allennlp
from spacy_elmo.cli import app
from spacy_elmo.pretrain import NonFiniteLoss, evaluate, load_config, pretrain
from spacy_elmo.pretrain import lm as lm_module
from spacy_elmo.pretrain.checkpoint import latest_checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "project" / "configs" / "pretrain_tiny.cfg"
PROVERBS = [
    "the quick brown fox jumps over the lazy dog", "a stitch in time saves nine",
    "all that glitters is not gold", "the early bird catches the worm",
    "actions speak louder than words", "better late than never",
    "birds of a feather flock together", "every cloud has a silver lining",
    "fortune favours the bold", "honesty is the best policy",
]
OVERFIT_BOUND = 3.0  # perplexity (both directions) after 150 steps; about 1.4 is the floor
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "proverbs.txt"
    path.write_text("\n".join(PROVERBS * 4) + "\n", encoding="utf8")
    return path


def tiny_config(train: Path, **overrides):
    settings = {
        "paths.train": str(train), "paths.dev": None, "corpus.tokenizer": "whitespace",
        "training.batch_size": 4, "training.max_steps": 6, "training.checkpoint_every": 3,
        "training.vocab_size": 20, "training.n_samples": 8,
    }
    settings.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(TINY, settings)


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacy_elmo", *map(str, args)], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, **kwargs)


def cli_args(train: Path, output: Path, *extra: str):
    return ["pretrain", TINY, output, "--silent", "--paths.train", train, "--paths.dev", "null",
            "--corpus.tokenizer", "whitespace", "--training.vocab_size", "20",
            "--training.n_samples", "8", *extra]


def weights(output: Path) -> dict:
    with h5py.File(output / "final" / "weights.hdf5", "r") as handle:
        out = {}
        handle.visititems(lambda name, obj: out.update({name: obj[...]}) if isinstance(obj, h5py.Dataset) else None)
    head = torch.load(output / "final" / "lm_head.pt", weights_only=True)
    return {**out, **{f"head/{k}": v.numpy() for k, v in head.items()}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus) -> Path:
    """A short English run with the spaCy tokenizer, dev evaluation and the full export."""
    output = tmp_path_factory.mktemp("run") / "out"
    config = tiny_config(corpus, paths__dev=str(corpus), corpus__tokenizer="spacy",
                         training__eval_every=3)
    pretrain(config, output, silent=True)
    return output


@pytest.mark.slow  # 150 training steps
def test_overfits_a_tiny_corpus(tmp_path, corpus):
    config = tiny_config(corpus, training__mode="sentence", training__max_steps=150,
                         training__batch_size=8, training__dropout=0.0, training__vocab_size=40,
                         training__softmax="full", training__checkpoint_every=0)
    pretrain(config, tmp_path / "out", silent=True)
    result = evaluate(tmp_path / "out", corpus)
    assert result["forward"] < OVERFIT_BOUND and result["backward"] < OVERFIT_BOUND


@pytest.mark.slow
def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path, corpus):
    """Kill a run once it has written a checkpoint, resume it to 20 steps past that
    checkpoint, and compare with a run that went there straight. The killed run is given
    far more steps than it can take before the kill (max_steps may change on resume, and
    the constant schedule does not depend on it), so no timing can let it finish first."""
    killed = tmp_path / "killed"
    every = ["--training.checkpoint_every", "10"]
    process = subprocess.Popen(
        [sys.executable, "-m", "spacy_elmo", *map(str, cli_args(corpus, killed, "--training.max_steps", "100000", *every))],
        env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while latest_checkpoint(killed) is None and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "final").exists()
    total = load_checkpoint(latest_checkpoint(killed))["step"] + 20
    straight = tiny_config(corpus, training__batch_size=8, training__max_steps=total, training__checkpoint_every=10)
    pretrain(straight, tmp_path / "straight", silent=True)
    resumed = cli(*cli_args(corpus, killed, "--training.max_steps", total, *every, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    straight, again = weights(tmp_path / "straight"), weights(killed)
    assert straight.keys() == again.keys()
    for name in straight:
        numpy.testing.assert_array_equal(straight[name], again[name], err_msg=name)


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path, corpus):
    steps = ["--training.max_steps", "8", "--training.dropout", "0", "--training.batch_size", "4"]
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "spacy_elmo", *map(str, cli_args(corpus, tmp_path / "two", *steps))],
        env=ENV, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (tmp_path / "two" / "pretrain.lock").exists()  # the main process held it, and let go
    pretrain(tiny_config(corpus, training__max_steps=8, training__dropout=0.0), tmp_path / "one", silent=True)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for name in one:
        numpy.testing.assert_allclose(one[name], two[name], atol=1e-5, err_msg=name)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus, monkeypatch):
    calls = {"n": 0}
    sampled = lm_module.SoftmaxHead.sampled_nll

    def poisoned(self, h, targets, sample):
        calls["n"] += 1
        nll = sampled(self, h, targets, sample)
        return nll * float("nan") if calls["n"] > 8 else nll  # 2 calls per step: step 5

    monkeypatch.setattr(lm_module.SoftmaxHead, "sampled_nll", poisoned)
    config = tiny_config(corpus, training__checkpoint_every=2, training__max_steps=10)
    with pytest.raises(NonFiniteLoss, match=r"Loss is loss nan at step 5.*step-00000004\.pt"):
        pretrain(config, tmp_path / "out", silent=True)
    checkpoint = load_checkpoint(latest_checkpoint(tmp_path / "out"))
    assert checkpoint["step"] == 4
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values())
    assert not (tmp_path / "out" / "final").exists()
    assert list(srsly.read_jsonl(tmp_path / "out" / "log.jsonl"))[-1]["event"] == "stopped"


def test_directory_holding_another_run_is_refused(tmp_path, corpus):
    pretrain(tiny_config(corpus, training__max_steps=2), tmp_path / "out", silent=True)
    with pytest.raises(ValueError, match="already holds a pretraining run"):
        pretrain(tiny_config(corpus, training__max_steps=2), tmp_path / "out", silent=True)


def test_force_starts_the_run_over(tmp_path, corpus):
    pretrain(tiny_config(corpus, training__max_steps=2, training__checkpoint_every=1), tmp_path / "out", silent=True)
    pretrain(tiny_config(corpus, training__max_steps=1, training__checkpoint_every=1), tmp_path / "out",
             force=True, silent=True)
    assert load_checkpoint(latest_checkpoint(tmp_path / "out"))["step"] == 1


def test_corpus_without_text_is_refused(tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "empty.txt").write_bytes(b"")
    (texts / "binary.bin").write_bytes(b"\x00\x01\x02")
    with pytest.warns(UserWarning, match="is empty"), pytest.warns(UserWarning, match="looks binary"), \
            pytest.raises(ValueError, match="holds no tokens"):
        pretrain(tiny_config(texts), tmp_path / "out", silent=True)


def test_resume_with_another_model_is_refused(tmp_path, corpus):
    pretrain(tiny_config(corpus, training__max_steps=2), tmp_path / "out", silent=True)
    with pytest.raises(ValueError, match=r"config differs in model\.lstm_dim"):
        pretrain(tiny_config(corpus, model__lstm_dim=24), tmp_path / "out", resume=True, silent=True)


def test_export_in_the_original_format(trained):
    checkpoint = load_checkpoint(latest_checkpoint(trained))
    options = srsly.read_json(trained / "final" / "options.json")
    assert options["char_cnn"]["n_characters"] == 262
    exported = load_allennlp(trained / "final" / "options.json", trained / "final" / "weights.hdf5")
    bilm = BiLM(exported.options)
    bilm.load_state_dict({k[len("bilm."):]: v for k, v in checkpoint["model"].items() if k.startswith("bilm.")})
    sentence = [["the", "early", "bird"]]
    numpy.testing.assert_allclose(exported.embed(sentence)[0], bilm.eval().embed(sentence)[0], atol=1e-6)


def test_export_as_a_spacy_pipeline(trained):
    import spacy

    nlp = spacy.load(trained / "final" / "pipeline")
    assert "elmo" in nlp.pipe_names
    doc = nlp("the early bird")
    exported = load_allennlp(trained / "final" / "options.json", trained / "final" / "weights.hdf5")
    expected = exported.embed([[t.text for t in doc]])[0][list(doc._.elmo.layer_ids)]
    numpy.testing.assert_allclose(doc._.elmo.layers, expected, atol=1e-3)


def test_training_log_records_perplexity_and_evaluations(trained):
    records = list(srsly.read_jsonl(trained / "log.jsonl"))
    steps = [r for r in records if "ppl" in r]
    evals = [r for r in records if r.get("event") == "eval"]
    assert steps[-1]["step"] == 6 and steps[-1]["tokens_per_s"] > 0
    assert [r["step"] for r in evals] == [3, 6] and evals[-1]["dev_average"] > 1


def test_evaluate_command_prints_json_last(trained, corpus):
    run = CliRunner().invoke(app, ["evaluate", str(trained), str(corpus)])
    assert run.exit_code == 0, run.output
    result = srsly.json_loads(run.stdout.strip().splitlines()[-1])
    assert set(result) == {"forward", "backward", "average"}
    assert result["average"] == pytest.approx(evaluate(trained, corpus)["average"], rel=1e-6)


def test_stream_evaluation_with_one_line_per_stream_equals_sentence_evaluation(trained, corpus):
    sentence = evaluate(trained, corpus, mode="sentence")
    stream = evaluate(trained, corpus, mode="stream", batch_size=len(PROVERBS) * 4)
    assert stream["n_tokens"] == sentence["n_tokens"]
    assert stream["average"] == pytest.approx(sentence["average"], rel=1e-5)


def test_chinese_corpus_with_character_segmentation(tmp_path):
    corpus = tmp_path / "zh.txt"
    corpus.write_text("今天天气很好。\n我们一起去北京。\n他在学校学习中文。\n" * 4, encoding="utf8")
    config = tiny_config(corpus, corpus__lang="zh", corpus__tokenizer="spacy", training__max_steps=4)
    pretrain(config, tmp_path / "out", silent=True)
    vocab = (tmp_path / "out" / "vocab.txt").read_text(encoding="utf8").split()
    assert "天" in vocab and "今天" not in vocab
    assert 1 < evaluate(tmp_path / "out", corpus)["average"] < 1000
