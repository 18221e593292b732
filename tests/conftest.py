import shutil
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import spacy
import torch
from spacy.language import Language

from spacy_elmo import BiLM, ElmoOptions, load_allennlp, save_allennlp
from spacy_elmo.convert import convert_to_pipeline
from spacy_elmo.elmo_format import read_options
from spacy_elmo.model_config import model_config_from_options

# Test models are tiny: one thread is faster than two contended ones, and reproducible.
torch.set_num_threads(1)


def pytest_configure(config):
    # `python -m pytest tests -q` runs everything (CI); -m "not slow" is the fast tier.
    config.addinivalue_line(
        "markers", "slow: end-to-end workflows and tests that start other processes "
        "(deselect with -m \"not slow\")")

ROOT = Path(__file__).resolve().parents[1]
# Shipped with the repository: the AllenNLP / bilm-tf ELMo fixture (Apache-2.0, see its
# NOTICE), the ELMoForManyLangs fixture (random data) and the demo's EWT / UNER excerpts.
FIXTURES = ROOT / "tests" / "data" / "elmo"
EFML_FIXTURES = ROOT / "tests" / "data" / "efml"
PROJECT_DATA = ROOT / "project" / "data"
EWT = PROJECT_DATA / "ud-english-ewt"
UNER = PROJECT_DATA / "uner-english-ewt"
EWT_TEST = EWT / "en_ewt-ud-test.conllu"  # the demo's shipped excerpt
# Not shipped: CoNLL-2003 may not be redistributed (Reuters license). Tests that need it
# read a local copy from ../shared/data/conll2003 beside the repository, else skip.
CONLL03 = ROOT.parent / "shared" / "data" / "conll2003"


def require_conll03() -> Path:
    if not (CONLL03 / "eng.train").exists():
        pytest.skip(f"needs CoNLL-2003, which may not be redistributed with the project: "
                    f"no local copy at {CONLL03}")
    return CONLL03


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_options() -> ElmoOptions:
    return ElmoOptions(
        lstm_dim=32, projection_dim=8, n_layers=2, cell_clip=3.0, proj_clip=3.0,
        use_skip_connections=True, char_dim=4, filters=((1, 4), (2, 8), (3, 8)), n_highway=1,
    )


def random_bilm(options: ElmoOptions, seed: int = 0, scale: float = 0.5) -> BiLM:
    """A biLM with random weights large enough to hit the clips."""
    torch.manual_seed(seed)
    bilm = BiLM(options)
    with torch.no_grad():
        for name, param in bilm.named_parameters():
            param.uniform_(-scale, scale)
        bilm.token_encoder.char_embedding.weight[0].zero_()
    return bilm.eval()


@pytest.fixture
def tiny_model_files(tmp_path, tiny_options):
    options_path, weights_path = tmp_path / "options.json", tmp_path / "weights.hdf5"
    save_allennlp(random_bilm(tiny_options), options_path, weights_path)
    return options_path, weights_path


# --- the tiny model as files, a pipeline and a biLM (component, command and safety tests) ---

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


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread than on two contended cores; a test that
    changes the thread count gets it back."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def commands_on_one_thread(monkeypatch):
    """The same for commands run in-process: --threads defaults to 1, not to the usable
    cores (on 2 busy cores the embed tests took 14 s of CPU with 2 threads, 8 s with 1).
    Commands import set_threads when they run; a test that imports it gets the original."""
    from spacy_elmo import devices

    original = devices.set_threads
    monkeypatch.setattr(devices, "set_threads", lambda threads: original(1 if threads is None else threads))
