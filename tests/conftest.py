from pathlib import Path

import pytest
import torch

from spacy_elmo import BiLM, ElmoOptions, save_allennlp

# Test models are tiny: one thread is faster than two contended ones, and reproducible.
torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "elmo-fixtures"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    if not (FIXTURES / "options.json").exists():
        pytest.skip(f"original ELMo fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


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
