"""Every ```python block of README.md runs as written, against the shipped fixture model.

The only change made to a block: the quoted file names "options.json", "weights.hdf5",
"elmo_pipeline" and "elmo_ner_pipeline" become the paths of the fixture model, of the pipeline
`convert` writes from it, and of an NER pipeline built from project/configs/ner_elmo.cfg on it;
"zhs.model" and "zh_elmo" the ELMoForManyLangs fixture model and the pipeline `convert` writes
from it (lang zh, jieba segmentation); "small" (a published model's name for `download`) a
folder holding the fixture model, which `download` takes as a local path: no network. The
download cache is a folder of the test's own (SPACY_ELMO_CACHE).
Each block then runs in an empty working folder, and its results are checked against the
biLM alone (`load_allennlp(...).embed`, the reference the parity tests tie to bilm-tf), or,
for ELMoForManyLangs, against the layers the original code computed (expected_layers.npz).
"""
import hashlib
import re
import shutil
from pathlib import Path
from typing import Callable, Dict, List

import numpy
import pytest
import spacy
import srsly
from spacy.training import Example
from spacy.util import load_config, load_model_from_config

from spacy_elmo import load_allennlp
from spacy_elmo.convert import convert_efml_to_pipeline, convert_to_pipeline

from .conftest import EFML_FIXTURES, FIXTURES, ROOT

README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
OPTIONS, WEIGHTS = FIXTURES / "options.json", FIXTURES / "lm_weights.hdf5"
EFML = EFML_FIXTURES


def python_blocks() -> List[str]:
    return BLOCK.findall(README.read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> Dict[str, Path]:
    folder = tmp_path_factory.mktemp("readme_models")
    pipeline = convert_to_pipeline(OPTIONS, WEIGHTS, folder / "elmo_pipeline")
    config = load_config(ROOT / "project" / "configs" / "ner_elmo.cfg",
                         overrides={"paths.elmo": str(pipeline)})
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    doc = nlp.make_doc("Ann Lee lives in Oslo .")
    examples = [Example.from_dict(doc, {"entities": ["B-PER", "L-PER", "O", "O", "U-LOC", "O"]})]
    with nlp.select_pipes(disable=["elmo"]):  # frozen and sourced, as `spacy train` does
        nlp.initialize(lambda: examples)
    nlp.to_disk(folder / "elmo_ner_pipeline")
    zh = convert_efml_to_pipeline(EFML / "model", folder / "zh_elmo", lang="zh", segmenter="jieba")
    small = folder / "small"
    small.mkdir()
    shutil.copyfile(OPTIONS, small / "options.json")
    shutil.copyfile(WEIGHTS, small / "weights.hdf5")
    return {"small": small, "options.json": OPTIONS, "weights.hdf5": WEIGHTS, "elmo_pipeline": pipeline,
            "elmo_ner_pipeline": folder / "elmo_ner_pipeline", "zhs.model": EFML / "model",
            "zh_elmo": zh}


def substitute(block: str, paths: Dict[str, Path]) -> str:
    for name, path in paths.items():
        block = block.replace(f'"{name}"', repr(str(path)))
    return block


def reference_layers(words: List[str]) -> numpy.ndarray:
    return load_allennlp(OPTIONS, WEIGHTS).embed([words])[0]


def assert_layers_match_bilm(doc, sentences: bool = False) -> None:
    spans = list(doc.sents) if sentences else [doc[:]]
    for span in spans:
        expected = reference_layers([t.text for t in span])
        numpy.testing.assert_allclose(doc._.elmo_layers[:, span.start:span.end], expected, atol=1e-5)


def cosine(a: numpy.ndarray, b: numpy.ndarray) -> float:
    return float(a @ b / numpy.linalg.norm(a) / numpy.linalg.norm(b))


def check_converted(ns: dict, paths) -> None:
    doc = ns["doc"]
    assert_layers_match_bilm(doc)
    other = ns["nlp"]("Interest rates went up.")
    expected = cosine(doc._.elmo_vectors.mean(axis=0), other._.elmo_vectors.mean(axis=0))
    assert ns["similarity"] == pytest.approx(expected, abs=1e-5) and ns["similarity"] != 0.0


def check_downloaded(ns: dict, paths) -> None:
    assert_layers_match_bilm(ns["doc"])
    source = ns["nlp"].meta["sources"][0]
    assert source["sha256"] == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()


def check_sourced(ns: dict, paths) -> None:
    assert ns["nlp"].pipe_names == ["sentencizer", "elmo"]
    assert len(list(ns["doc"].sents)) == 2
    assert_layers_match_bilm(ns["doc"], sentences=True)


def check_configured(ns: dict, paths) -> None:
    model = ns["nlp"].config["components"]["elmo"]["model"]
    assert (model["lstm_dim"], model["projection_dim"], model["filters"][-1]) == (64, 16, [5, 64])
    assert_layers_match_bilm(ns["doc"])
    assert ns["doc"].tensor.shape == (len(ns["doc"]), 32)


def check_bilm(ns: dict, paths) -> None:
    expected = load_allennlp(OPTIONS, WEIGHTS).embed([["The", "cat", "sat"], ["Hello", "!"]])
    for got, want in zip(ns["layers"], expected):
        assert got.shape == want.shape and numpy.array_equal(got, want)
    reloaded = load_allennlp("out/options.json", "out/weights.hdf5")
    for got, want in zip(reloaded.embed([["The", "cat", "sat"], ["Hello", "!"]]), expected):
        assert numpy.array_equal(got, want)


def check_replaced(ns: dict, paths) -> None:
    nlp = ns["nlp"]
    assert nlp.get_pipe("elmo").listening_components == []
    before = spacy.load(paths["elmo_ner_pipeline"])
    assert before.get_pipe("elmo").listening_components == ["tok2vec"]
    text = "The bank raised interest rates."
    expected = before.get_pipe("tok2vec").predict([before.get_pipe("elmo")(before.make_doc(text))])
    got = nlp.get_pipe("tok2vec").predict([nlp.make_doc(text)])
    numpy.testing.assert_allclose(got[0], expected[0], atol=1e-5)


def efml_expected(words: List[str]) -> numpy.ndarray:
    """The original code's layers for a fixture sentence (tests/data/efml/README.md)."""
    sentences = srsly.read_json(EFML / "sentences.json")
    return numpy.load(EFML / "expected_layers.npz")[f"s{sentences.index(words)}"]


def check_efml_api(ns: dict, paths) -> None:
    words = ["北京", "是", "中国", "的", "首都", "。"]
    numpy.testing.assert_allclose(ns["layers"][0], efml_expected(words), atol=5e-4, rtol=1e-5)
    assert ns["stateful"].stateful


def check_efml_pipeline(ns: dict, paths) -> None:
    doc = ns["doc"]
    words = [t.text for t in doc]
    assert words == ["北京", "是", "中国", "的", "首都", "。"]  # jieba's segmentation
    numpy.testing.assert_allclose(doc._.elmo_layers, efml_expected(words), atol=5e-4, rtol=1e-5)
    assert ns["nlp"].config["nlp"]["tokenizer"]["segmenter"] == "jieba"


# A block is recognised by a line it holds; each must have a check (no "it ran" test).
CHECKS: Dict[str, Callable] = {
    'similarity = doc.similarity(': check_converted,
    'spacy.load(spacy_elmo.download("small"))': check_downloaded,
    'source=spacy.load("elmo_pipeline")': check_sourced,
    'model_config_from_options(read_options("options.json"))': check_configured,
    'save_allennlp(bilm, "out/options.json"': check_bilm,
    'nlp.replace_listeners("elmo", "tok2vec", ["model.embed.elmo"])': check_replaced,
    'load_elmoformanylangs("zhs.model")': check_efml_api,
    'nlp = spacy.load("zh_elmo")': check_efml_pipeline,
}


def test_every_block_has_exactly_one_check():
    blocks = python_blocks()
    assert len(blocks) == len(CHECKS)
    for block in blocks:
        assert sum(marker in block for marker in CHECKS) == 1, block


@pytest.mark.parametrize("index", range(len(CHECKS)))
def test_readme_block_runs_as_written(index, paths, tmp_path, monkeypatch):
    block = python_blocks()[index]
    monkeypatch.chdir(tmp_path)  # "out/" and friends do not exist here
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "readme"}
    exec(compile(substitute(block, paths), f"README.md python block {index}", "exec"), namespace)
    check = next(check for marker, check in CHECKS.items() if marker in block)
    check(namespace, paths)


# ---- The README's bash block that trains NER on ELMo ----------------------------------

TRAIN_MARKER = "python -m spacy train project/configs/ner_elmo.cfg --output ner_model"


def train_block() -> List[str]:
    """The bash block holding TRAIN_MARKER, as commands (continuation lines joined)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(encoding="utf8"), re.M | re.S)
    found = [b for b in blocks if TRAIN_MARKER in b]
    assert len(found) == 1
    return [line for line in found[0].replace("\\\n", " ").splitlines() if line.strip()]


def _ner_docbin(nlp, path: Path) -> None:
    from spacy.tokens import DocBin

    sentences = [("Ann Lee lives in Oslo .", [(0, 7, "PER"), (17, 21, "LOC")]),
                 ("Bob went to Paris .", [(0, 3, "PER"), (12, 17, "LOC")]),
                 ("The bank in London raised rates .", [(12, 18, "LOC")])]
    docs = DocBin()
    for text, spans in sentences:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in spans]
        docs.add(doc)
    docs.to_disk(path)


@pytest.mark.slow
def test_readme_training_block_runs_as_written(paths, tmp_path):
    """The block runs from a folder laid out as the repository's root (the config at
    project/configs/), with only "small" made the fixture model's folder and the steps cut
    (SPACY_CONFIG_OVERRIDES, read by `spacy train`): the trained pipeline's elmo component
    gives the fixture biLM's layers, and its NER scores are in `spacy evaluate`'s output."""
    import os
    import subprocess
    import sys

    (tmp_path / "project" / "configs").mkdir(parents=True)
    shutil.copyfile(ROOT / "project" / "configs" / "ner_elmo.cfg", tmp_path / "project" / "configs" / "ner_elmo.cfg")
    nlp = spacy.blank("en")
    for name in ("train", "dev", "test"):
        _ner_docbin(nlp, tmp_path / f"{name}.spacy")
    env = dict(os.environ, SPACY_ELMO_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT),
               SPACY_CONFIG_OVERRIDES="--training.max_steps 4 --training.eval_frequency 2")
    outputs = []
    for command in train_block():
        command = command.replace("download small ", f"download {paths['small']} ")
        assert command.startswith("python -m ")
        args = [sys.executable] + command.split()[1:]
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    trained = spacy.load(tmp_path / "ner_model" / "model-best")
    assert trained.pipe_names == ["elmo", "tok2vec", "ner"]
    doc = trained("The bank raised interest rates.")
    assert_layers_match_bilm(doc)
    assert "NER P" in outputs[-1] and "NER F" in outputs[-1]
