from pathlib import Path

import pytest
import torch

from spacy_elmo import BiLM, ElmoOptions, save_allennlp

# Test models are tiny: one thread is faster than two contended ones, and reproducible.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
# Shipped with the repository: the AllenNLP / bilm-tf ELMo fixture (Apache-2.0, see its
# NOTICE), the ELMoForManyLangs fixture (random data) and the demo's EWT / UNER excerpts.
FIXTURES = ROOT / "tests" / "data" / "elmo"
EFML_FIXTURES = ROOT / "tests" / "data" / "efml"
PROJECT_DATA = ROOT / "project" / "data"
EWT = PROJECT_DATA / "ud-english-ewt"
UNER = PROJECT_DATA / "uner-english-ewt"
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
