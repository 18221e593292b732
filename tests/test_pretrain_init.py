"""[paths] init_bilm: a run starts from an existing biLM (continued pretraining)."""
import shutil
from pathlib import Path

import pytest
import srsly
import torch

from typer.testing import CliRunner

from spacy_elmo import load_allennlp, save_allennlp
from spacy_elmo.cli import app
from spacy_elmo.convert import convert_to_pipeline
from spacy_elmo.pretrain import PretrainSettings, load_config, pretrain
from spacy_elmo.pretrain.train import Trainer

from .conftest import random_bilm
from .test_pretrain_train import PROVERBS, TINY, cli_args, tiny_config


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "proverbs.txt"
    path.write_text("\n".join(PROVERBS * 4) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, corpus) -> Path:
    """A finished pretraining run: final/ holds the biLM, lm_head.pt and vocab.txt."""
    output = tmp_path_factory.mktemp("source") / "run"
    pretrain(tiny_config(corpus, training__seed=5), output, silent=True)
    return output


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """options.json + weights.hdf5 of a random biLM with pretrain_tiny.cfg's dimensions,
    a spaCy pipeline converted from them, and the biLM itself (the expected weights)."""
    folder = tmp_path_factory.mktemp("original")
    bilm = random_bilm(PretrainSettings.from_config(load_config(TINY)).model, seed=3)
    save_allennlp(bilm, folder / "options.json", folder / "weights.hdf5")
    pipeline = convert_to_pipeline(folder / "options.json", folder / "weights.hdf5",
                                   tmp_path_factory.mktemp("pipeline") / "nlp")
    return folder, pipeline, bilm.state_dict()


@pytest.fixture
def initial_weights(monkeypatch):
    """The LanguageModel's state_dict when training starts, one per pretrain() call."""
    seen = []
    train = Trainer.train

    def spy(self):
        seen.append({k: v.detach().clone() for k, v in self.lm.state_dict().items()})
        train(self)

    monkeypatch.setattr(Trainer, "train", spy)
    return seen


def start(corpus, output: Path, init, **overrides) -> None:
    overrides = {"training__max_steps": 1, "paths__init_bilm": str(init) if init else None, **overrides}
    pretrain(tiny_config(corpus, **overrides), output, silent=True)


def events(output: Path, name: str):
    return [r for r in srsly.read_jsonl(output / "log.jsonl") if r.get("event") == name]


def bilm_part(state):
    return {k[len("bilm."):]: v for k, v in state.items() if k.startswith("bilm.")}


def assert_same(found, expected):
    assert found.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(found[name], expected[name], rtol=0, atol=0, msg=name)


def source_weights(run: Path):
    final = run / "final"
    head = torch.load(final / "lm_head.pt", weights_only=True)
    return load_allennlp(final / "options.json", final / "weights.hdf5").state_dict(), head


@pytest.mark.parametrize("kind", ["run", "final"])
def test_starts_from_a_pretraining_output(tmp_path, corpus, source_run, initial_weights, kind):
    path = source_run if kind == "run" else source_run / "final"
    start(corpus, tmp_path / "out", path)
    bilm, head = source_weights(source_run)
    assert_same(bilm_part(initial_weights[0]), bilm)
    assert_same({k: initial_weights[0][f"head.{k}"] for k in head}, head)


@pytest.mark.parametrize("kind", ["original", "pipeline"])
def test_starts_from_original_files_or_a_pipeline(tmp_path, corpus, original, initial_weights, kind):
    folder, pipeline, expected = original
    start(corpus, tmp_path / "out", folder if kind == "original" else pipeline)
    assert_same(bilm_part(initial_weights[0]), expected)


def test_softmax_is_reused_with_the_same_vocabulary(tmp_path, corpus, source_run):
    # same corpus and settings: the run builds the same vocabulary as the source run
    assert (source_run / "vocab.txt").read_text() == (source_run / "final" / "vocab.txt").read_text()
    start(corpus, tmp_path / "out", source_run)
    (event,) = events(tmp_path / "out", "init")
    assert event["softmax"].startswith("reused") and event["kind"] == "pretraining output"
    assert (tmp_path / "out" / "vocab.txt").read_text() == (source_run / "vocab.txt").read_text()


def test_softmax_is_fresh_for_another_vocabulary(tmp_path, corpus, source_run, initial_weights):
    start(corpus, tmp_path / "scratch", None, training__vocab_size=15)
    start(corpus, tmp_path / "out", source_run, training__vocab_size=15)
    scratch, adapted = initial_weights
    (event,) = events(tmp_path / "out", "init")
    assert event["softmax"].startswith("fresh")
    # the softmax a run without init_bilm starts from; the biLM from the source run
    assert_same({k: v for k, v in adapted.items() if k.startswith("head.")},
                {k: v for k, v in scratch.items() if k.startswith("head.")})
    assert_same(bilm_part(adapted), source_weights(source_run)[0])


def test_softmax_is_fresh_when_the_init_model_has_none(tmp_path, corpus, original):
    start(corpus, tmp_path / "out", original[0])
    (event,) = events(tmp_path / "out", "init")
    assert event["kind"] == "options.json + weights.hdf5"
    assert event["softmax"] == "fresh: the init model has no softmax"


def test_resumed_run_does_not_reinitialise(tmp_path, corpus, original):
    init = tmp_path / "init"
    shutil.copytree(original[0], init)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    start(corpus, straight, init, training__max_steps=6)
    start(corpus, resumed, init, training__max_steps=3)
    shutil.rmtree(init)  # a resumed run must not need it
    pretrain(tiny_config(corpus, training__max_steps=6, paths__init_bilm=str(init)), resumed,
             resume=True, silent=True)
    assert len(events(resumed, "init")) == 1
    assert_same(source_weights(resumed)[0], source_weights(straight)[0])
    assert_same(source_weights(resumed)[1], source_weights(straight)[1])


def test_resume_with_another_init_bilm_is_refused(tmp_path, corpus, original, source_run):
    start(corpus, tmp_path / "out", original[0])
    with pytest.raises(ValueError, match=r"differs in paths\.init_bilm"):
        pretrain(tiny_config(corpus, paths__init_bilm=str(source_run)), tmp_path / "out",
                 resume=True, silent=True)


def _not_a_model(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no model here")
    return tmp_path / "notes"


def _unfinished_run(tmp_path: Path) -> Path:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    return tmp_path / "run"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "weights.hdf5").write_bytes(b"not hdf5")
    return tmp_path / "weights.hdf5"


@pytest.mark.parametrize("make,problem", [
    (lambda tmp: tmp / "missing", "no such file or directory"),
    (_not_a_model, "expected options.json"),
    (_unfinished_run, "without a final/ export"),
    (_a_file, "a file, not a model"),
])
def test_bad_init_path_fails_before_training(tmp_path, corpus, make, problem):
    path = make(tmp_path)
    with pytest.raises(ValueError) as error:
        start(corpus, tmp_path / "out", path)
    message = str(error.value)
    assert f"init_bilm = {path}" in message and problem in message
    assert not (tmp_path / "out").exists()  # nothing written: the same command works once fixed


def test_init_model_with_other_dimensions_is_named(tmp_path, corpus, original):
    with pytest.raises(ValueError) as error:
        start(corpus, tmp_path / "out", original[0], model__lstm_dim=64)
    message = str(error.value)
    assert str(original[0]) in message
    assert "lstm_dim is 32 there, 64 in [model]" in message and "projection_dim" not in message
    assert not (tmp_path / "out").exists()


def test_cli_names_a_missing_init_path(tmp_path, corpus):
    args = cli_args(corpus, tmp_path / "out", "--paths.init_bilm", tmp_path / "nothing")
    run = CliRunner().invoke(app, list(map(str, args)))
    assert run.exit_code == 1 and isinstance(run.exception, SystemExit)  # no traceback
    output = " ".join(run.output.split())  # the printer wraps long lines
    assert f"init_bilm = {tmp_path / 'nothing'}: no such file or directory" in output


def test_every_shipped_pretraining_config_names_init_bilm():
    for path in sorted(TINY.parent.glob("pretrain_*.cfg")):
        assert "init_bilm = null" in path.read_text(), path.name
    assert PretrainSettings.from_config(load_config(TINY)).paths.init_bilm is None

