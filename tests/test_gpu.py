"""The biLM and pretraining on a CUDA device: the same numbers as on the CPU.

Skipped without CUDA (CI has none); run on a GPU machine with `pytest tests/test_gpu.py`.
"""
import numpy
import pytest
import srsly
import torch

from spacy_elmo import Embedder, load_allennlp

from .test_bilm_parity import expected_top

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="module")
def cuda_bilm(fixture_dir):
    return load_allennlp(fixture_dir / "options.json", fixture_dir / "lm_weights.hdf5").cuda()


def test_stateful_parity_on_cuda(cuda_bilm, fixture_dir):
    lists = [[s.split() for s in lst] for lst in srsly.read_json(fixture_dir / "sentences.json")]
    embedder = Embedder(cuda_bilm, batch_size=3, stateful=True)
    for i in range(10):
        outputs = embedder([lists[k][i] for k in range(3)])
        for k, layers in enumerate(outputs):
            numpy.testing.assert_allclose(layers[-1], expected_top(fixture_dir, k, i), atol=1e-5)


def test_cuda_equals_cpu_and_is_batch_independent(cuda_bilm, fixture_dir):
    cpu = load_allennlp(fixture_dir / "options.json", fixture_dir / "lm_weights.hdf5")
    sentence = "The quick brown fox jumped over the lazy dog .".split()
    other = "A much longer sentence that pads the batch with many more tokens than the first .".split()
    alone = cuda_bilm.embed([sentence])[0]
    numpy.testing.assert_allclose(alone, cpu.embed([sentence])[0], atol=1e-5)
    numpy.testing.assert_allclose(cuda_bilm.embed([other, sentence, ["Hi"]])[1], alone, atol=1e-5)


def test_pretraining_on_cuda_with_mixed_precision(tmp_path):
    from spacy_elmo.pretrain.config import load_config
    from spacy_elmo.pretrain.evaluate import evaluate
    from spacy_elmo.pretrain.train import pretrain

    text = tmp_path / "train.txt"
    text.write_text("\n".join(["the cat sat on the mat .", "a dog ran in the park ."] * 40), encoding="utf8")
    config_path = __import__("pathlib").Path(__file__).resolve().parents[1] / "project" / "configs" / "pretrain_tiny.cfg"
    config = load_config(config_path, overrides={
        "paths.train": str(text), "paths.dev": str(text), "corpus.tokenizer": "whitespace",
        "training.device": "cuda", "training.mixed_precision": True, "training.max_steps": 150,
        "training.eval_every": 0, "training.checkpoint_every": 1000, "training.softmax": "full"})
    pretrain(config, tmp_path / "out", silent=True)
    result = evaluate(tmp_path / "out", str(text), device="cuda")
    assert result["average"] < 6.0
    bilm = load_allennlp(tmp_path / "out" / "final" / "options.json", tmp_path / "out" / "final" / "weights.hdf5")
    assert numpy.isfinite(bilm.embed([["the", "cat"]])[0]).all()
