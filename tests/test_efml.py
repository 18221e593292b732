"""ELMoForManyLangs models: conformance with the layers the original code computed
(tests/data/efml, a copy of ../shared/efml-fixtures), the pipeline, and bad input."""
import copy
import pickle
import shutil
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc
from typer.testing import CliRunner

from spacy_elmo import (
    Embedder, TokenCache, load_elmoformanylangs, save_allennlp, save_elmoformanylangs)
from spacy_elmo.cli import app
from spacy_elmo.convert import convert_efml_to_pipeline
from spacy_elmo.data_classes import ElmoData
from spacy_elmo.efml_format import BUNDLED_CONFIGS, find_architecture, read_lexicon
from spacy_elmo.layers import ElmoModel, ElmoSettings, get_bilm
from spacy_elmo.pipeline_files import bilm_from_directory

DATA = Path(__file__).resolve().parent / "data" / "efml"
MODEL = DATA / "model"


def _fixture_dic(name):
    """The .dic file parsed here, independently of the code under test."""
    lines = (MODEL / name).read_text(encoding="utf8").splitlines()
    return {line.split("\t")[0]: int(line.split("\t")[1]) for line in lines}


@pytest.fixture(scope="module")
def sentences():
    return srsly.read_json(DATA / "sentences.json")


@pytest.fixture(scope="module")
def expected():
    with numpy.load(DATA / "expected_layers.npz") as data:
        return [data[f"s{i}"] for i in range(len(data.files))]


@pytest.fixture(scope="module")
def bilm():
    return load_elmoformanylangs(MODEL)


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    """A pipeline converted from a copy of the model folder, the copy then deleted."""
    tmp = tmp_path_factory.mktemp("efml")
    shutil.copytree(MODEL, tmp / "model")
    convert_efml_to_pipeline(tmp / "model", tmp / "pipeline")
    shutil.rmtree(tmp / "model")
    return tmp / "pipeline"


def assert_float32_close(found, expected):
    numpy.testing.assert_allclose(found, expected, atol=5e-4, rtol=1e-5)


def test_fixture_covers_the_hard_cases(sentences):
    chars, words = _fixture_dic("char.dic"), _fixture_dic("word.dic")
    tokens = [w for s in sentences for w in s]
    cut = [w for w in tokens if len(w) > 48]  # max_characters_per_token 50, minus 2
    assert cut and all(w[:48] != w for w in cut)
    assert any(c not in chars for w in tokens for c in w)  # OOV characters
    assert any(w not in words for w in tokens)  # OOV words
    assert any("\u4e00" <= c <= "\u9fff" for w in tokens for c in w)  # Chinese
    assert "😀" in tokens  # emoji, outside the BMP


def test_float64_one_sentence_at_a_time_and_batched(bilm, sentences, expected):
    bilm64 = load_elmoformanylangs(MODEL).double()
    for i, sentence in enumerate(sentences):
        numpy.testing.assert_allclose(bilm64.embed([sentence])[0], expected[i], atol=1e-4, rtol=0)
    for found, want in zip(bilm64.embed(sentences, batch_size=8), expected):
        numpy.testing.assert_allclose(found, want, atol=1e-4, rtol=0)


def test_float32_one_sentence_at_a_time_and_batched(bilm, sentences, expected):
    for i, sentence in enumerate(sentences):
        found = bilm.embed([sentence])[0]
        assert found.dtype == numpy.float32 and found.shape == expected[i].shape
        assert_float32_close(found, expected[i])
    for batch_size in (8, len(sentences)):
        for found, want in zip(bilm.embed(sentences, batch_size=batch_size), expected):
            assert_float32_close(found, want)


def test_pipeline_matches_after_the_model_folder_is_gone(pipeline_dir, sentences, expected):
    config = spacy.util.load_config(pipeline_dir / "config.cfg")
    block = config["components"]["elmo"]["model"]
    assert block["@architectures"] == "spacy-elmo.ElmoModel.v2"
    assert (block["token_encoder"], block["n_characters"], block["n_words"]) == ("efml", 69, 152)
    nlp = spacy.load(pipeline_dir)
    alone = [nlp(Doc(nlp.vocab, words=s)) for s in sentences]
    batched = list(nlp.pipe([Doc(nlp.vocab, words=s) for s in sentences], batch_size=8))
    for doc_a, doc_b, want in zip(alone, batched, expected):
        assert_float32_close(doc_a._.elmo.layers, want)
        assert_float32_close(doc_b._.elmo.layers, want)


def test_pipeline_stores_float16(pipeline_dir, sentences, expected):
    nlp = spacy.load(pipeline_dir, config={"components": {"elmo": {"dtype": "float16"}}})
    for doc, want in zip(nlp.pipe([Doc(nlp.vocab, words=s) for s in sentences]), expected):
        assert doc._.elmo.layers.dtype == numpy.float16
        numpy.testing.assert_allclose(doc._.elmo.layers.astype("float32"), want, atol=5e-4, rtol=1e-3)


def test_chinese_pipeline_with_jieba_segmentation(tmp_path, sentences, expected):
    pytest.importorskip("jieba")
    nlp = spacy.load(convert_efml_to_pipeline(MODEL, tmp_path / "zh", lang="zh", segmenter="jieba"))
    for index in (24, 25):
        doc = nlp("".join(sentences[index]))
        assert [t.text for t in doc] == sentences[index]
        assert_float32_close(doc._.elmo.layers, expected[index])


def test_convert_command_two_argument_form(tmp_path):
    result = CliRunner().invoke(app, ["convert", str(MODEL), str(tmp_path / "out"), "--lang", "xx"])
    assert result.exit_code == 0, result.output
    config = spacy.util.load_config(tmp_path / "out" / "config.cfg")
    assert config["nlp"]["lang"] == "xx"
    assert config["components"]["elmo"]["model"]["token_encoder"] == "efml"


def test_stateful_embedder_carries_state_across_batches(sentences, expected):
    embedder = Embedder(load_elmoformanylangs(MODEL), batch_size=8, stateful=True)
    first, second = embedder(sentences[:8]), embedder(sentences[8:16])
    for found, want in zip(first, expected[:8]):
        assert_float32_close(found, want)  # the first batch starts from zeros
    differences = [numpy.abs(f[1:] - w[1:]).max() for f, w in zip(second, expected[8:16])]
    assert max(differences) > 1e-2  # later rows start from the previous batch's state


def test_token_cache_hits(bilm, sentences, expected):
    """A frozen biLM keeps its token vectors across calls; a trainable one keeps them
    for one call only (its weights may change in between: nn/derived.py)."""
    assert not any(p.requires_grad for p in bilm.parameters())  # loaders give a frozen biLM
    bilm = load_elmoformanylangs(MODEL, requires_grad=True)
    cache = TokenCache()
    bilm.embed(sentences, cache=cache)
    misses = cache.misses
    bilm.embed(sentences, cache=cache)
    assert cache.misses == 2 * misses
    bilm = copy.deepcopy(bilm).requires_grad_(False)
    bilm.embed(sentences, cache=cache)
    misses, hits = cache.misses, cache.hits
    again = bilm.embed(sentences, batch_size=8, cache=cache)
    assert cache.misses == misses
    distinct = len({w for s in sentences for w in s})
    assert cache.hits - hits >= distinct + 2
    for found, want in zip(again, expected):
        assert_float32_close(found, want)


def test_fine_tuning_reaches_the_word_embeddings(bilm, sentences):
    model = ElmoModel(bilm.options, ElmoSettings(fine_tune=True))
    model.initialize()
    get_bilm(model).load_state_dict(bilm.state_dict())
    docs = [Doc(spacy.blank("xx").vocab, words=sentences[0])]
    outputs, backprop = model.begin_update(docs)
    backprop([ElmoData(model.ops.alloc3f(*o.layers.shape) + 1.0, o.layer_ids) for o in outputs])
    grad = get_bilm(model).token_encoder.word_embedding.weight.grad
    word_ids = _fixture_dic("word.dic")
    used = {word_ids.get(w, word_ids["<oov>"]) + 1 for w in sentences[0] + ["<bos>", "<eos>"]}
    rows_with_grad = set(torch.nonzero(grad.abs().sum(dim=1)).flatten().tolist())
    assert rows_with_grad == used


def test_listener_fine_tunes_the_efml_word_embeddings(bilm, sentences):
    from spacy.training import Example
    from thinc.api import Adam

    from spacy_elmo.model_config import model_config_from_options

    nlp = spacy.blank("xx")
    model = {**model_config_from_options(bilm.options), "fine_tune": True}
    nlp.add_pipe("elmo", config={"model": model})
    nlp.config["initialize"]["components"]["elmo"] = {"weights": str(MODEL)}
    listener = {"@architectures": "spacy-elmo.ElmoListener.v1", "dropout": 0.0}
    nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2", "tok2vec": listener}})
    words = sentences[0]  # I ran across this item on the Internet .
    tags = ["P", "V", "A", "D", "N", "A", "D", "N", "X"]
    examples = [Example.from_dict(Doc(nlp.vocab, words=words), {"tags": tags})]
    nlp.initialize(lambda: examples)
    assert nlp.get_pipe("elmo").listening_components == ["tagger"]
    embedding = get_bilm(nlp.get_pipe("elmo").model).token_encoder.word_embedding.weight
    numpy.testing.assert_array_equal(embedding.detach()[1:].numpy(),
                                     bilm.token_encoder.word_embedding.weight.detach()[1:].numpy())
    before = embedding.detach().clone()
    optimizer = Adam(0.01)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    word_ids = _fixture_dic("word.dic")
    row = word_ids["Internet"] + 1
    assert not torch.equal(embedding.detach()[row], before[row])  # in the batch: trained
    row = word_ids["Asia"] + 1
    assert torch.equal(embedding.detach()[row], before[row])  # not in the batch: untouched


def test_lexicon_survives_serialization(bilm):
    from spacy_elmo import BiLM

    fresh = BiLM(bilm.options)
    fresh.load_state_dict(bilm.state_dict())
    words = ["北京", "naïve", "zzz", ("<S>",)]
    assert torch.equal(fresh.token_encoder.token_ids(words), bilm.token_encoder.token_ids(words))


def test_token_ids_as_the_original_builds_them(bilm):
    chars, words = _fixture_dic("char.dic"), _fixture_dic("word.dic")
    ids = bilm.token_encoder.token_ids(["Asia", "Ωx", ("<S>",)]).numpy() - 1  # undo the shift
    pad = chars["<pad>"]
    # the begin marker is char.dic's <eow>, the end marker its <bow> (swapped in the original)
    assert list(ids[0, :7]) == [words["Asia"], chars["<eow>"], chars["A"], chars["s"], chars["i"], chars["a"], chars["<bow>"]]
    assert list(ids[1, :5]) == [words["<oov>"], chars["<eow>"], chars["<oov>"], chars["x"], chars["<bow>"]]
    assert list(ids[2, :4]) == [words["<bos>"], chars["<eow>"], chars["<bos>"], chars["<bow>"]]
    assert (ids[:, 7:] == pad).all() and ids.shape == (3, 51)


def test_directory_loader_and_bundled_architectures(bilm):
    assert bilm_from_directory(MODEL).options == bilm.options
    for word_dim in (0, 100):
        name = f"cnn_{50 if word_dim else 0}_100_512_4096_sample.json"
        arch = srsly.read_json(BUNDLED_CONFIGS / name)
        assert arch["token_embedder"]["word_dim"] == word_dim
        assert (arch["encoder"]["dim"], arch["encoder"]["projection_dim"]) == (4096, 512)


def test_efml_model_cannot_be_saved_as_options_json(bilm, tmp_path):
    with pytest.raises(ValueError, match="cannot be written as options.json"):
        save_allennlp(bilm, tmp_path / "options.json", tmp_path / "weights.hdf5")


def test_saved_in_its_own_layout_as_the_original_files(bilm, tmp_path, sentences, expected):
    """save_elmoformanylangs writes the fixture's own tensors, vocabularies and
    architecture back (the files the original code wrote are the reference), and the
    folder computes the original's layers."""
    out = save_elmoformanylangs(bilm, tmp_path / "saved", dropout=0.1)
    for name in ("token_embedder.pkl", "encoder.pkl"):
        original = torch.load(MODEL / name, weights_only=True)
        written = torch.load(out / name, weights_only=True)
        assert sorted(written) == sorted(original)
        for key, value in original.items():
            assert torch.equal(written[key], value.to(torch.float32)), (name, key)
    for name in ("char.dic", "word.dic"):
        assert _fixture_dic(name) == {
            line.split("\t")[0]: int(line.split("\t")[1])
            for line in (out / name).read_text(encoding="utf8").splitlines()}
    original = srsly.read_json(MODEL / "cnn_model.json")
    written = srsly.read_json(out / srsly.read_json(out / "config.json")["config_path"])
    assert {k: written[k] for k in ("encoder", "token_embedder", "dropout")} == \
        {k: original[k] for k in ("encoder", "token_embedder", "dropout")}
    reloaded = load_elmoformanylangs(out)
    for found, want in zip(reloaded.embed(sentences, batch_size=8), expected):
        assert_float32_close(found, want)


def test_only_its_kind_is_saved_in_its_layout(bilm, tmp_path):
    from spacy_elmo import load_allennlp

    elmo = DATA.parent / "elmo"
    original = load_allennlp(elmo / "options.json", elmo / "lm_weights.hdf5")
    with pytest.raises(ValueError, match=r"\[E628\]"):
        save_elmoformanylangs(original, tmp_path / "a")
    spaced = copy.deepcopy(bilm)
    chars, words = spaced.token_encoder.lexicon.entries()
    spaced.token_encoder.lexicon.set_entries(chars, [" x" if w == words[-1] else w for w in words])
    with pytest.raises(ValueError, match=r"\[E629\].*' x'"):
        save_elmoformanylangs(spaced, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- model folders with something wrong ---------------------------------------------------
@pytest.fixture
def model_copy(tmp_path):
    shutil.copytree(MODEL, tmp_path / "model")
    for path in (tmp_path / "model").iterdir():
        path.chmod(0o644)
    return tmp_path / "model"


def _set_config_path(folder, value):
    config = srsly.read_json(folder / "config.json")
    config["config_path"] = value
    srsly.write_json(folder / "config.json", config)


@pytest.mark.parametrize("name", ["char.dic", "word.dic"])
def test_missing_vocabulary_is_named(model_copy, name):
    (model_copy / name).unlink()
    with pytest.raises(FileNotFoundError, match=str(model_copy / name).replace("\\", "\\\\")):
        load_elmoformanylangs(model_copy)


def test_word_dic_not_needed_without_word_embeddings(model_copy):
    arch = srsly.read_json(model_copy / "cnn_model.json")
    arch["token_embedder"]["word_dim"] = 0
    srsly.write_json(model_copy / "cnn_model.json", arch)
    (model_copy / "word.dic").unlink()
    state = torch.load(model_copy / "token_embedder.pkl", weights_only=True)
    del state["word_emb_layer.embedding.weight"]
    state["projection.weight"] = state["projection.weight"][:, 12:]  # drop the word columns
    torch.save(state, model_copy / "token_embedder.pkl")
    model = load_elmoformanylangs(model_copy)
    assert model.token_encoder.word_embedding is None
    assert model.token_encoder.token_ids(["a"]).shape == (1, 50)


def test_config_path_falls_back_to_the_file_name_in_the_folder(model_copy):
    _set_config_path(model_copy, "../configs/cnn_model.json")
    assert find_architecture(model_copy) == model_copy / "cnn_model.json"


def test_config_path_falls_back_to_the_published_architecture(model_copy):
    _set_config_path(model_copy, "../configs/cnn_50_100_512_4096_sample.json")
    assert find_architecture(model_copy) == BUNDLED_CONFIGS / "cnn_50_100_512_4096_sample.json"


def test_config_path_resolving_nowhere_is_named(model_copy):
    _set_config_path(model_copy, "../configs/missing.json")
    with pytest.raises(FileNotFoundError, match="config_path '../configs/missing.json' resolves nowhere"):
        load_elmoformanylangs(model_copy)


def test_mismatched_char_vocabulary_names_the_weights_file(model_copy):
    lines = (model_copy / "char.dic").read_text(encoding="utf8").splitlines()
    (model_copy / "char.dic").write_text("\n".join(lines[:-1]) + "\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"token_embedder\.pkl, tensor 'char_emb_layer.embedding.weight': "
                                         r"expected shape \(68, 6\), found \(69, 6\)"):
        load_elmoformanylangs(model_copy)


def test_mismatched_lstm_size_names_the_encoder_file(model_copy):
    arch = srsly.read_json(model_copy / "cnn_model.json")
    arch["encoder"]["dim"] = 32
    srsly.write_json(model_copy / "cnn_model.json", arch)
    with pytest.raises(ValueError, match=r"encoder\.pkl, tensor 'forward_layer_0.input_linearity.weight'"):
        load_elmoformanylangs(model_copy)


class _CreatesAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_non_tensor_pickle_is_refused_without_running_it(model_copy, tmp_path):
    marker = tmp_path / "created_by_unpickling"
    torch.save({"x": _CreatesAFile(marker)}, model_copy / "encoder.pkl",
               _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match=r"encoder\.pkl is not a state dict of tensors"):
        load_elmoformanylangs(model_copy)
    assert not marker.exists()
    with (model_copy / "token_embedder.pkl").open("wb") as file:
        pickle.dump(_CreatesAFile(marker), file)
    with pytest.raises(ValueError, match=r"token_embedder\.pkl is not a state dict of tensors"):
        load_elmoformanylangs(model_copy)
    assert not marker.exists()


def test_lexicon_lines(tmp_path):
    path = tmp_path / "char.dic"
    path.write_text("<oov>\t0\n\u3000\t1\nb\t2\n", encoding="utf8")
    # a line left with one field after strip() is the ideographic space, as in the original
    assert read_lexicon(path) == ["<oov>", "\u3000", "b"]
    path.write_text("<oov>\t0\nb\tx\n", encoding="utf8")
    with pytest.raises(ValueError, match="char.dic, line 2"):
        read_lexicon(path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_the_fixture(sentences, expected):
    cuda_bilm = load_elmoformanylangs(MODEL).cuda()
    for found, want in zip(cuda_bilm.embed(sentences, batch_size=8), expected):
        assert_float32_close(found, want)


def test_model_v2_builds_the_original_encoder_by_default_and_efml_when_asked():
    from spacy.util import registry

    dims = {"lstm_dim": 8, "projection_dim": 4, "n_layers": 1, "filters": [[1, 4]], "n_highway": 1}
    original = registry.architectures.get("spacy-elmo.ElmoModel.v2")(**dims)
    assert get_bilm(original).options.token_encoder == "elmo"
    assert float(get_bilm(original).lstm.layers[0].forget_offset.max()) == 1.0
    v2 = registry.architectures.get("spacy-elmo.ElmoModel.v2")(
        **dims, token_encoder="efml", n_characters=10, word_dim=3, n_words=7)
    encoder = get_bilm(v2).token_encoder
    assert encoder.word_embedding.weight.shape == (8, 3)
    assert encoder.char_embedding.weight.shape == (11, 16)
    assert encoder.projection.weight.shape == (4, 3 + 4)
    assert float(get_bilm(v2).lstm.layers[0].forget_offset.abs().max()) == 0.0


@pytest.mark.parametrize("name", ["char.dic", "word.dic"])
@pytest.mark.parametrize("duplicate,what", [("zzz\t{id}", "id {id}"), ("{token}\t{next}", "token")])
def test_duplicate_ids_and_tokens_in_a_vocabulary_are_refused(model_copy, name, duplicate, what):
    path = model_copy / name
    lines = path.read_text(encoding="utf8").splitlines()
    token, index = lines[3].split("\t")
    extra = duplicate.format(id=index, token=token, next=len(lines))
    path.write_text("\n".join(lines + [extra]) + "\n", encoding="utf8")
    # the original (and this reader before) replaced entry `id` with the later line's token
    with pytest.raises(ValueError, match=rf"{name}, line {len(lines) + 1}: "
                                         rf"{what.format(id=index)}.* already on line 4"):
        load_elmoformanylangs(model_copy)


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_non_finite_efml_weights_are_refused(model_copy, value):
    state = torch.load(model_copy / "encoder.pkl", weights_only=True)
    state["backward_layer_1.state_projection.weight"][2, 3] = value
    torch.save(state, model_copy / "encoder.pkl")
    with pytest.raises(ValueError, match=r"encoder\.pkl, tensor 'backward_layer_1\.state_projection"
                                         r"\.weight' is not finite"):
        load_elmoformanylangs(model_copy)


def test_a_bom_in_a_vocabulary_is_not_part_of_its_first_entry(model_copy, bilm, sentences):
    path = model_copy / "char.dic"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    reloaded = load_elmoformanylangs(model_copy)
    assert read_lexicon(path)[0] == "<oov>"
    for found, want in zip(reloaded.embed(sentences[:3]), bilm.embed(sentences[:3])):
        numpy.testing.assert_array_equal(found, want)
