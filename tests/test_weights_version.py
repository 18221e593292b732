"""The fast inference paths (packed weights, cached values) against the plain autograd
path, and the one mechanism that keeps their caches true: ``bilm.weights_version``."""
import pytest
import torch

from spacy_elmo import BiLM, ElmoOptions
from spacy_elmo.nn import packed
from spacy_elmo.nn.lstm import BiLstmLayer

from .conftest import random_bilm

# rows of lengths 4, 3, 1: 3 rows at step 0, 2 at steps 1-2, a single row at step 3
BATCH_SIZES = [3, 2, 2, 1]


def _random_layer(cell_dim: int) -> BiLstmLayer:
    torch.manual_seed(0)
    layer = BiLstmLayer(6, cell_dim, 5, cell_clip=3.0, proj_clip=3.0)
    with torch.no_grad():
        for param in layer.parameters():
            param.uniform_(-0.3, 0.3)
    return layer


def _inputs() -> torch.Tensor:
    """x (2, T, B, 6), zero past each row's end."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, len(BATCH_SIZES), BATCH_SIZES[0], 6, generator=generator)
    for t, n in enumerate(BATCH_SIZES):
        x[:, t, n:] = 0.0
    return x


@pytest.mark.parametrize("cell_dim", [16, 2048])
def test_no_grad_path_equals_the_autograd_path(cell_dim):
    """The in-place, packed path (no autograd) against the plain one (autograd), over
    steps with 3, 2 and 1 rows (single rows also through the packed weights)."""
    layer = _random_layer(cell_dim)
    x = _inputs()
    generator = torch.Generator().manual_seed(2)
    state = (torch.randn(2, 3, 5, generator=generator) * 0.1,
             torch.randn(2, 3, cell_dim, generator=generator) * 0.1)
    expected, expected_final = layer(x, BATCH_SIZES, state)  # parameters need grad: autograd path
    with torch.no_grad():
        found, found_final = layer(x, BATCH_SIZES, state)
    torch.testing.assert_close(found, expected.detach(), atol=2e-6, rtol=1e-5)
    for a, b in zip(found_final, expected_final):
        torch.testing.assert_close(a, b.detach(), atol=2e-6, rtol=1e-5)


SENTENCES = [["The", "cat", "sat", "down"], ["A", "dog"], ["Hi"]]


def _embed(bilm: BiLM):
    return [layers.copy() for layers in bilm.embed(SENTENCES, batch_size=3)]


@pytest.fixture
def small_options() -> ElmoOptions:
    return ElmoOptions(lstm_dim=16, projection_dim=4, n_layers=2, cell_clip=3.0, proj_clip=3.0,
                       use_skip_connections=True, char_dim=4, filters=((1, 4), (2, 8)), n_highway=1)


def test_load_state_dict_refreshes_every_cache(small_options):
    bilm, other = random_bilm(small_options, seed=0), random_bilm(small_options, seed=1)
    before = bilm.weights_version.value
    _embed(bilm)  # fills the packed copies and the shared first step
    bilm.load_state_dict(other.state_dict())
    assert bilm.weights_version.value > before
    for found, expected in zip(_embed(bilm), _embed(other)):
        torch.testing.assert_close(torch.from_numpy(found), torch.from_numpy(expected), atol=0, rtol=0)


def test_an_edit_in_place_is_seen_after_a_bump(small_options):
    bilm, reference = random_bilm(small_options, seed=0), random_bilm(small_options, seed=0)
    _embed(bilm)
    with torch.no_grad():
        for module in (bilm, reference):
            module.lstm.layers[1].w_proj.mul_(0.5)
            module.token_encoder.highway.carry[0].weight.add_(0.1)
    bilm.weights_version.bump()
    for found, expected in zip(_embed(bilm), _embed(reference)):
        torch.testing.assert_close(torch.from_numpy(found), torch.from_numpy(expected), atol=0, rtol=0)


def test_the_parts_share_the_biLM_version(small_options):
    bilm = BiLM(small_options)
    versions = {id(m._packs.version) for m in bilm.modules() if hasattr(m, "_packs")}
    assert versions == {id(bilm.weights_version)}
    before = bilm.weights_version.value
    bilm.to(torch.float32)
    assert bilm.weights_version.value > before
