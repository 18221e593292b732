"""Shared setup of the component and command tests (import the fixtures by name)."""
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from spacy_elmo import BiLM, load_allennlp, save_allennlp
from spacy_elmo.convert import convert_to_pipeline, model_config_from_options
from spacy_elmo.elmo_format import read_options

from .conftest import EWT, FIXTURES, random_bilm

EWT_TEST = EWT / "en_ewt-ud-test.conllu"  # the demo's shipped excerpt
TEXTS = [
    "The cat sat on the mat.",
    "Short one.",
    "A considerably longer sentence, with commas, numbers like 42 and a few more words in it.",
    "Hello  world",
    "",
]


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory, tiny_options):
    """A random tiny model in the original format (options.json, weights.hdf5)."""
    folder = tmp_path_factory.mktemp("tiny_model")
    save_allennlp(random_bilm(tiny_options), folder / "options.json", folder / "weights.hdf5")
    return folder / "options.json", folder / "weights.hdf5"


@pytest.fixture(scope="session")
def tiny_bilm(tiny_files) -> BiLM:
    """The reference: the same weights loaded straight into a BiLM."""
    return load_allennlp(*tiny_files)


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory, tiny_files) -> Path:
    return convert_to_pipeline(*tiny_files, tmp_path_factory.mktemp("tiny_pipeline") / "p")


@pytest.fixture
def nlp(tiny_pipeline_dir) -> Language:
    return spacy.load(tiny_pipeline_dir)


@pytest.fixture
def make_nlp(tiny_files):
    """Build a blank pipeline with the tiny model and extra component/model settings."""
    def make(model: Optional[Dict] = None, sentencizer: bool = False, files=None, **settings):
        options_file, weights_file = files or tiny_files
        config = model_config_from_options(read_options(options_file))
        config.update(model or {})
        nlp = spacy.blank("en")
        if sentencizer:
            nlp.add_pipe("sentencizer")
        nlp.add_pipe("elmo", config={"model": config, **settings})
        nlp.config["initialize"]["components"]["elmo"] = {"weights": str(weights_file)}
        nlp.initialize()
        return nlp
    return make


@pytest.fixture(scope="session")
def fixture_files(fixture_dir):
    return fixture_dir / "options.json", fixture_dir / "lm_weights.hdf5"


@pytest.fixture(scope="session")
def ewt_words() -> List[str]:
    words = []
    with EWT_TEST.open(encoding="utf8") as handle:
        for line in handle:
            parts = line.split("\t")
            if len(parts) > 2 and parts[0].isdigit():
                words.append(parts[1])
    return words


@pytest.fixture
def copied_model_files(tmp_path, tiny_files):
    """A deletable copy of the tiny model files."""
    folder = tmp_path / "original"
    folder.mkdir()
    for path in tiny_files:
        shutil.copy(path, folder / path.name)
    return folder / "options.json", folder / "weights.hdf5"


def reference_layers(bilm: BiLM, doc: Doc, sentences: bool = False) -> numpy.ndarray:
    """(L+1, len(doc), 2P) from ``bilm.embed``: each sentence (or the doc) alone,
    whitespace tokens left out and zero."""
    out = numpy.zeros((bilm.n_output_layers, len(doc), bilm.output_dim), dtype="float32")
    spans = list(doc.sents) if sentences else [doc[:]]
    for span in spans:
        indices = [t.i for t in span if not t.is_space]
        if indices:
            out[:, indices] = bilm.embed([[doc[i].text for i in indices]])[0]
    return out


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread than on two contended cores (autouse in
    every module importing it)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
