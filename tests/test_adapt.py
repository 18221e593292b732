"""`adapt`: a biLM continued on a task's words (.spacy / text), written as a pipeline."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc, DocBin
from spacy.training.converters import conllu_to_docs
from typer.testing import CliRunner

from spacy_elmo import load_allennlp, load_elmoformanylangs
from spacy_elmo.cli import app
from spacy_elmo.convert import convert_efml_to_pipeline, convert_to_pipeline
from spacy_elmo.pipeline_files import bilm_from_directory
from spacy_elmo.pretrain import pretrain
from spacy_elmo.pretrain.adapt import adapt
from spacy_elmo.pretrain.checkpoint import load_checkpoint
from spacy_elmo.pretrain.run_folder import run_lock
from spacy_elmo.pretrain.task_text import write_task_text

from .conftest import EFML_FIXTURES, EWT, FIXTURES, ROOT, require_conll03
from .test_pretrain_train import PROVERBS, tiny_config

SMALL = {"training.batch_size": 4, "training.unroll_steps": 10, "training.n_samples": 32,
         "training.checkpoint_every": 0, "training.keep_checkpoints": 5}


@pytest.fixture(scope="module")
def ewt_blocks():
    """The sentences of the shipped EWT excerpt, as CoNLL-U blocks (the outside reference)."""
    text = (EWT / "en_ewt-ud-dev.conllu").read_text(encoding="utf8")
    return [block for block in text.strip().split("\n\n") if block.strip()]


def conllu_docbin(blocks, path: Path, n_sents: int = 10) -> Path:
    """.spacy as `spacy convert --converter conllu --n-sents N` writes it."""
    docs = conllu_to_docs("\n\n".join(blocks) + "\n\n", n_sents=n_sents, no_print=True)
    DocBin(docs=list(docs)).to_disk(path)
    return path


def n_words(blocks) -> int:
    """Syntactic words of CoNLL-U blocks: lines with an integer id (no ranges, no empty nodes)."""
    return sum(1 for b in blocks for line in b.splitlines()
               if line and not line.startswith("#") and line.split("\t")[0].isdigit())


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The fixture's published-format model: options.json + weights.hdf5, no softmax."""
    folder = tmp_path_factory.mktemp("published")
    shutil.copy(FIXTURES / "options.json", folder / "options.json")
    shutil.copy(FIXTURES / "lm_weights.hdf5", folder / "weights.hdf5")
    return folder


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, published, ewt_blocks):
    """The fixture adapted on 200 EWT sentences (.spacy), 60 others held out."""
    data = tmp_path_factory.mktemp("data")
    train = conllu_docbin(ewt_blocks[:200], data / "train.spacy")
    dev = conllu_docbin(ewt_blocks[200:260], data / "dev.spacy")
    output = tmp_path_factory.mktemp("adapted") / "out"
    result = adapt(published, train, output, steps=16, dev=dev, overrides=SMALL, silent=True)
    return result, published


def test_adapt_counts_the_task_words(adapted, ewt_blocks):
    result, _ = adapted
    assert (result.train.docs, result.train.sentences) == (20, 200)
    assert result.train.words == n_words(ewt_blocks[:200])
    lines = (result.run_dir / "corpus" / "train.txt").read_text(encoding="utf8").splitlines()
    first = [line.split("\t")[1] for line in ewt_blocks[0].splitlines()
             if line and line.split("\t")[0].isdigit()]
    assert len(lines) == 200 and lines[0].split() == first


def test_softmax_warmup_freezes_the_bilm_until_it_ends(adapted):
    """One pass over 200 sentences' words is more than 16 // 4 steps: the warm-up is 4."""
    result, published = adapted
    assert result.softmax == "new" and result.warmup_steps == 4
    source = load_allennlp(published / "options.json", published / "weights.hdf5").state_dict()
    warm = load_checkpoint(result.run_dir / "checkpoints" / "step-00000004.pt")["model"]
    for name, value in source.items():
        assert torch.equal(warm[f"bilm.{name}"], value), name
    log = list(srsly.read_jsonl(result.run_dir / "log.jsonl"))
    assert {"event": "bilm_unfrozen", "step": 4} in log


def test_adaptation_changes_the_bilm_and_lowers_perplexity(adapted):
    result, published = adapted
    source = load_allennlp(published / "options.json", published / "weights.hdf5").state_dict()
    final = load_allennlp(result.run_dir / "final" / "options.json",
                          result.run_dir / "final" / "weights.hdf5").state_dict()
    changed = [name for name, value in source.items() if not torch.equal(final[name], value)]
    assert "lstm.layers.0.w_input" in changed or len(changed) > len(source) // 2
    assert result.after["average"] < result.before["average"]
    assert result.before["n_tokens"] == result.after["n_tokens"] > 0
    # OUTPUT is the pipeline with the adapted weights (and no second copy under final/)
    nlp = spacy.load(result.pipeline)
    assert "elmo" in nlp.pipe_names and not (result.run_dir / "final" / "pipeline").exists()
    loaded = bilm_from_directory(result.pipeline).state_dict()
    assert all(torch.equal(loaded[name], final[name]) for name in final)


@pytest.fixture(scope="module")
def efml_adapted(tmp_path_factory, ewt_blocks):
    """The ELMoForManyLangs fixture (char.dic + word.dic, no softmax) adapted on 120 EWT
    sentences for 8 steps (2 of warm-up), 40 others held out."""
    data = tmp_path_factory.mktemp("efml_data")
    train = conllu_docbin(ewt_blocks[:120], data / "train.spacy")
    dev = conllu_docbin(ewt_blocks[200:240], data / "dev.spacy")
    output = tmp_path_factory.mktemp("efml_adapted") / "out"
    model = EFML_FIXTURES / "model"
    return adapt(model, train, output, steps=8, dev=dev, overrides=SMALL, silent=True), model


def test_adapt_an_elmoformanylangs_model(efml_adapted):
    """Its vocabularies and architecture go through: the warm-up leaves every biLM tensor
    as the model folder has it, then the biLM moves, and final/ is an ELMoForManyLangs
    folder (the original's layout) holding what OUTPUT's pipeline computes."""
    result, model = efml_adapted
    assert (result.softmax, result.warmup_steps) == ("new", 2)
    source = load_elmoformanylangs(model).state_dict()
    warm = load_checkpoint(result.run_dir / "checkpoints" / "step-00000002.pt")["model"]
    assert all(torch.equal(warm[f"bilm.{name}"], value) for name, value in source.items())
    final = result.run_dir / "final"
    assert (final / "char.dic").read_bytes() == (model / "char.dic").read_bytes()
    adapted = load_elmoformanylangs(final)
    assert adapted.options == load_elmoformanylangs(model).options
    changed = [k for k, v in adapted.state_dict().items() if not torch.equal(v, source[k])]
    assert "lstm.layers.0.w_input" in changed and "token_encoder.word_embedding.weight" in changed
    assert not any("lexicon" in name for name in changed)
    assert result.after["average"] < result.before["average"]
    nlp = spacy.load(result.pipeline)
    words = ["Where", "is", "the", "nearest", "bakery", "?"]
    doc = nlp(Doc(nlp.vocab, words=words))
    expected = adapted.embed([words])[0]
    assert float(abs(doc._.elmo_layers - expected).max()) < 1e-5


def test_a_chinese_pipeline_keeps_its_word_segmenter(tmp_path):
    """A pipeline MODEL keeps its own tokenizer: the ELMoForManyLangs fixture converted
    for Chinese with jieba, adapted, still segments words, with the adapted weights."""
    pytest.importorskip("jieba")
    sentences = srsly.read_json(EFML_FIXTURES / "sentences.json")
    words = sentences[24]  # a Chinese sentence as jieba segments it (the fixture's README)
    pipeline = convert_efml_to_pipeline(EFML_FIXTURES / "model", tmp_path / "zh", lang="zh",
                                        segmenter="jieba")
    task = tmp_path / "task.txt"
    task.write_text("".join(sentences[24]) + "\n" + "".join(sentences[25]) + "\n", encoding="utf8")
    result = adapt(pipeline, task, tmp_path / "out", steps=2, overrides=SMALL, silent=True)
    train_words = (result.run_dir / "corpus" / "train.txt").read_text(encoding="utf8")
    assert train_words.splitlines()[0].split() == words  # TRAIN's text, segmented by jieba
    nlp = spacy.load(result.pipeline)
    assert nlp.config["nlp"]["tokenizer"]["segmenter"] == "jieba"
    doc = nlp("".join(words))
    assert [t.text for t in doc] == words
    adapted = load_elmoformanylangs(result.run_dir / "final")
    assert float(abs(doc._.elmo_layers - adapted.embed([words])[0]).max()) < 1e-5
    source = load_elmoformanylangs(EFML_FIXTURES / "model").state_dict()
    assert not torch.equal(adapted.state_dict()["lstm.layers.0.w_input"],
                           source["lstm.layers.0.w_input"])


def test_dev_text_chooses_the_steps(tmp_path, published, ewt_blocks):
    """With --dev, one pass over TRAIN's words at a time; a pass that does not lower the
    dev perplexity ends it (patience 1); OUTPUT holds the best pass's biLM."""
    train = conllu_docbin(ewt_blocks[:12], tmp_path / "train.spacy")
    dev = conllu_docbin(ewt_blocks[200:230], tmp_path / "dev.spacy")
    result = adapt(published, train, tmp_path / "out", steps=60, dev=dev, overrides=SMALL,
                   silent=True, patience=1)
    # a pass reads the 12 sentences' words and ends: batch 4 x unroll 10 targets a step
    size = -(-(n_words(ewt_blocks[:12]) + 12) // 40)
    assert result.warmup_steps == size  # one pass, less than a quarter of 60
    passes = [r for r in srsly.read_jsonl(result.run_dir / "log.jsonl") if r.get("event") == "pass"]
    assert [r["step"] for r in passes] == [size * (k + 2) for k in range(len(passes))]
    best = min(passes, key=lambda r: r["dev_average"])
    assert passes[-1]["dev_average"] >= best["dev_average"] and passes[-1]["step"] < 60
    assert [r["step"] > best["step"] for r in passes].count(True) == 1  # patience 1
    assert result.best_step == best["step"]
    assert result.after["average"] == pytest.approx(best["dev_average"], rel=1e-9)
    assert result.after["average"] < result.before["average"]
    chosen = load_checkpoint(result.run_dir / "checkpoints" / f"step-{best['step']:08d}.pt")
    output = bilm_from_directory(result.pipeline).state_dict()
    assert all(torch.equal(chosen["model"][f"bilm.{name}"], value) for name, value in output.items())
    last = load_allennlp(result.run_dir / "final" / "options.json",
                         result.run_dir / "final" / "weights.hdf5").state_dict()
    assert not torch.equal(last["lstm.layers.0.w_input"], output["lstm.layers.0.w_input"])


def test_adapt_a_converted_pipeline(tmp_path, published):
    """A pipeline from `convert` (no softmax): its language, a new softmax, a pipeline out."""
    pipeline = convert_to_pipeline(published / "options.json", published / "weights.hdf5",
                                   tmp_path / "converted", lang="de")
    task = tmp_path / "task.txt"
    task.write_text("Der Hund bellt.\nDie Katze schläft.\n", encoding="utf8")
    result = adapt(pipeline, task, tmp_path / "out", steps=2, overrides=SMALL, silent=True)
    assert (result.softmax, result.warmup_steps) == ("new", 1)
    assert (result.train.docs, result.train.sentences, result.train.words) == (2, 2, 8)
    vocab = (result.run_dir / "vocab.txt").read_text(encoding="utf8").split()
    assert {"Hund", "Katze", "schläft", "."} <= set(vocab)  # TRAIN's words, German tokenizer
    assert spacy.load(result.pipeline).lang == "de"


@pytest.mark.slow
def test_resume_continues_the_run_and_keeps_its_warmup(tmp_path, published, ewt_blocks):
    train = conllu_docbin(ewt_blocks[:40], tmp_path / "train.spacy")
    output = tmp_path / "out"
    first = adapt(published, train, output, steps=4, overrides=SMALL, silent=True)
    assert first.warmup_steps == 1  # 4 // 4: less than one pass over 40 sentences
    with pytest.raises(ValueError, match=r"\[E310\]"):
        adapt(published, train, output, steps=8, overrides=SMALL, silent=True)
    second = adapt(published, train, output, steps=8, overrides=SMALL, resume=True, silent=True)
    assert second.warmup_steps == 1  # the run's own, not 8 // 4
    log = list(srsly.read_jsonl(output / "run" / "log.jsonl"))
    assert [r["step"] for r in log if r.get("event") == "resume"] == [4]
    assert max(r.get("step", 0) for r in log) == 8
    assert [r.get("event") for r in log].count("adapted") == 2


@pytest.mark.slow
def test_adapt_keeps_a_pretraining_outputs_softmax(tmp_path):
    corpus = tmp_path / "proverbs.txt"
    corpus.write_text("\n".join(PROVERBS * 4) + "\n", encoding="utf8")
    source = pretrain(tiny_config(corpus), tmp_path / "source", silent=True).parent
    task = tmp_path / "task.txt"
    task.write_text("the bold fox saves nine birds\nbetter the worm than never\n", encoding="utf8")
    result = adapt(source, task, tmp_path / "out", steps=3, dev=task, silent=True)
    assert (result.softmax, result.warmup_steps) == ("kept", 0)
    # the run's vocabulary is the source's, so its softmax was reused, and evaluated first
    assert (result.run_dir / "vocab.txt").read_text() == (source / "final" / "vocab.txt").read_text()
    log = list(srsly.read_jsonl(result.run_dir / "log.jsonl"))
    assert [r["step"] for r in log if r.get("phase") == "before"] == [0]
    assert result.before is not None and result.after is not None
    # [model] came from the source; [training] from its run (batch_size 4), max_steps ours
    saved = (result.run_dir / "config.cfg").read_text()
    assert "batch_size = 4" in saved and "max_steps = 3" in saved and "lstm_dim = 32" in saved


def test_task_text_sentences_as_docs_mark_them(tmp_path):
    nlp = spacy.blank("en")
    marked = Doc(nlp.vocab, words=["A", "b", ".", "C", "d"], sent_starts=[1, 0, 0, 1, 0])
    unmarked = Doc(nlp.vocab, words=["e", " ", "f"], spaces=[False, False, False])
    DocBin(docs=[marked, unmarked]).to_disk(tmp_path / "a.spacy")
    (tmp_path / "b.txt").write_text("Hello, world!\n\nBye.\n", encoding="utf8")
    stats = write_task_text(tmp_path / "a.spacy", tmp_path / "a.txt", "en")
    assert (tmp_path / "a.txt").read_text() == "A b .\nC d\ne f\n"
    assert (stats.docs, stats.sentences, stats.words) == (2, 3, 7)
    stats = write_task_text(tmp_path / "b.txt", tmp_path / "b.out", "en")
    assert (tmp_path / "b.out").read_text() == "Hello , world !\nBye .\n"
    assert (stats.docs, stats.sentences, stats.words) == (3, 2, 6)  # the blank line: no words


@pytest.mark.slow
def test_conll03_train_words_are_its_sentences(tmp_path):
    """What adapt-bilm reads of CoNLL-2003 train, converted as the project converts it."""
    conll03 = require_conll03()
    project = ROOT / "project"
    run = subprocess.run([sys.executable, "scripts/convert_conll03.py", str(conll03 / "eng.train"),
                          str(tmp_path / "train.spacy"), "--n-sents", "10"],
                         cwd=project, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    stats = write_task_text(tmp_path / "train.spacy", tmp_path / "train.txt", "en")
    # Tjong Kim Sang and De Meulder (2003), table 1: the English training set
    assert (stats.sentences, stats.words) == (14041, 203621)
    lines = (tmp_path / "train.txt").read_text(encoding="utf8").splitlines()
    assert lines[0] == "EU rejects German call to boycott British lamb ."


def run_cli(*args) -> str:
    result = CliRunner().invoke(app, ["adapt", *map(str, args)])
    assert result.exit_code == 1, result.output
    return " ".join(result.output.split())


def test_errors_are_one_coded_line(tmp_path, published):
    task = tmp_path / "task.txt"
    task.write_text("a b c\n", encoding="utf8")
    assert "[E366]" in run_cli(published, task, published / "out")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    assert "[E367]" in run_cli(published, task, tmp_path / "taken")
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"
    (tmp_path / "bad.spacy").write_bytes(b"not a docbin")
    assert "[E362]" in run_cli(published, tmp_path / "bad.spacy", tmp_path / "o1")
    assert "[E360]" in run_cli(published, tmp_path / "missing", tmp_path / "o2")
    assert "[E364]" in run_cli(EFML_FIXTURES, task, tmp_path / "o3")  # no model there
    assert "[E368]" in run_cli(published, task, tmp_path / "o4", "--steps", "1")
    assert "[E371]" in run_cli(published, task, tmp_path / "o4", "--dev", task, "--patience", "0")
    assert "[E364]" in run_cli(tmp_path / "taken", task, tmp_path / "o5")
    # failed new adaptations leave nothing behind
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3", "o4", "o5"))


def test_a_run_in_progress_keeps_its_text(tmp_path, published):
    """Another process holds OUTPUT/run's lock (it trains there): its corpus stays as it is."""
    task = tmp_path / "task.txt"
    task.write_text("a b c\n", encoding="utf8")
    run = tmp_path / "out" / "run"
    (run / "corpus").mkdir(parents=True)
    (run / "corpus" / "train.txt").write_text("the other run's words\n")
    with run_lock(run):
        assert "[E334]" in run_cli(published, task, tmp_path / "out", "--resume")
    assert (run / "corpus" / "train.txt").read_text() == "the other run's words\n"


@pytest.mark.slow  # starts a process
def test_adapt_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, published, ewt_blocks):
    """A write that fails (here a file-size limit: EFBIG, as a full disk's ENOSPC) is one
    coded line, and a new adaptation leaves no file behind."""
    from .run_helpers import ENV, limit_file_size

    train = conllu_docbin(ewt_blocks[:40], tmp_path / "train.spacy")
    output = tmp_path / "out"
    command = [sys.executable, "-m", "spacy_elmo", "adapt", str(published), str(train),
               str(output), "--steps", "4", "--silent"] + [
        f"--{k}={v}" for k, v in SMALL.items()]
    run = subprocess.run(command, env=ENV, capture_output=True, text=True,
                         preexec_fn=limit_file_size(100_000))  # text, vocab, config; no checkpoint
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-3000:]
    checkpoint = output / "run" / "checkpoints" / "step-00000001.pt"
    assert f"[E510] Could not write {checkpoint}: File too large" in " ".join(run.stdout.split())
    assert not output.exists()
