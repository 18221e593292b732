"""The spaCy project (project/project.yml) end to end, and its configs.

The smoke tests run the `all` workflow (the full experiment's commands: CoNLL-2003 NER) and
the `demo-steps` workflow (the demo's: UNER-EWT NER, shipped data only) on a copy of the
project with a tiny corpus (about 2 minutes each on 2 CPU cores), then check what they
produced and that a second run skips every step. `all` needs a local copy of CoNLL-2003,
which may not be redistributed: without one its run is skipped.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.schemas import ConfigSchemaPretrain, ConfigSchemaTraining
from spacy.util import load_config, load_model_from_config, registry

from spacy_elmo import load_allennlp
from spacy_elmo.layers.listener import learned_mixes

from .conftest import EWT, ROOT, UNER, require_conll03

PROJECT = ROOT / "project"
CONFIGS = sorted((PROJECT / "configs").glob("*.cfg"))
TRAINING_CONFIGS = [path for path in CONFIGS if not path.name.startswith("pretrain_")]
PRETRAIN_CONFIGS = [path for path in CONFIGS if path.name.startswith("pretrain_")]
RUN = "smoke"
TASKS = {"ner": ["ents_f"], "tagger_parser": ["tag_acc", "dep_las"]}
VARIANTS = ("baseline", "spretrain", "elmo")
# What run-demo passes on to demo-steps (project.yml)
DEMO_VARS = {"ner_test_name": "UNER English EWT test",
             "ner_sources": "Universal NER English EWT v1 (Mayhew et al., NAACL 2024), CC BY-SA 4.0"}
# Every command of each workflow, in order.
STEPS = {
    "all": ["fetch-data", "prepare-text", "pretrain", "evaluate-lm", "lm-baselines", "convert-conll03", "split-ud",
            "convert-ud", "spacy-pretrain", "train-ner", "adapt-bilm", "train-ner-adapted", "train-tagger-parser",
            "package", "report"],
    "demo-steps": ["prepare-text", "pretrain", "evaluate-lm", "lm-baselines", "convert-uner", "split-ud", "convert-ud",
                   "spacy-pretrain", "train-ner", "adapt-bilm", "train-ner-adapted", "train-tagger-parser", "package",
                   "report"],
}


# --- configs (fast) --------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path):
    """Each config has the sections its kind needs (spaCy training or pretraining)."""
    config = load_config(path)
    needed = {"paths", "corpus", "model", "training"} if path in PRETRAIN_CONFIGS else {
        "paths", "nlp", "components", "corpora", "training", "initialize"}
    assert needed <= set(config), sorted(needed - set(config))


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: p.name)
def test_training_config_fills_and_resolves(path, tiny_pipeline_dir):
    config = load_config(path, overrides={"paths.elmo": str(tiny_pipeline_dir)})
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    resolved = nlp.config.interpolate()
    registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    if "pretraining" in resolved and resolved["pretraining"]:
        registry.resolve(resolved["pretraining"], schema=ConfigSchemaPretrain)
    expected = ["tok2vec"] + (["ner"] if path.name.startswith("ner_") else ["tagger", "parser"])
    if "elmo" in path.name:
        expected = ["elmo"] + expected
        assert resolved["training"]["frozen_components"] == ["elmo"]
        assert resolved["training"]["annotating_components"] == ["elmo"]
    assert nlp.pipe_names == expected


@pytest.mark.parametrize("path", [p for p in TRAINING_CONFIGS if "elmo" in p.name], ids=lambda p: p.name)
def test_listener_layers_match_every_pretraining_config(path):
    """The ELMo listener's n_layers must be the biLM's L + 1 for every biLM the project
    can pretrain, else the downstream training fails only after the pretraining."""
    listener = load_config(path)["components"]["tok2vec"]["model"]["embed"]["elmo"]
    for pretrain_config in PRETRAIN_CONFIGS:
        n_layers = load_config(pretrain_config)["model"]["n_layers"]
        assert listener["n_layers"] == n_layers + 1, pretrain_config.name


# --- the `all` workflow on a tiny corpus (about 2 minutes) -----------------------


def _head_blocks(path: Path, max_lines: int) -> str:
    """The first lines of a blank-line separated file, cut at a block boundary."""
    lines = path.read_text(encoding="utf8").splitlines(keepends=True)[:max_lines]
    while lines and lines[-1].strip():
        lines.pop()
    return "".join(lines)


def _head_sentences(path: Path, n: int) -> str:
    blocks = path.read_text(encoding="utf8").split("\n\n")
    return "\n\n".join(blocks[:n]) + "\n\n"


def _tiny_data(root: Path, conll03: bool) -> Path:
    """conll2003/ (only for `all`), ud-english-ewt/ and uner-english-ewt/ cut short."""
    data = root / "data"
    if conll03:
        (data / "conll2003").mkdir(parents=True)
        for name in ("eng.train", "eng.testa", "eng.testb"):
            text = _head_blocks(require_conll03() / name, 400)
            (data / "conll2003" / name).write_text(text, encoding="utf8")
    for source in (EWT, UNER):
        (data / source.name).mkdir(parents=True)
        for name in sorted(source.glob("en_ewt-ud-*")):
            (data / source.name / name.name).write_text(_head_sentences(name, 60), encoding="utf8")
    return data


def _tiny_text(root: Path) -> Path:
    """Raw text for the biLM: the first 400 EWT test sentences, one per line."""
    folder = root / "text"
    folder.mkdir()
    sentences = []
    with (EWT / "en_ewt-ud-test.conllu").open(encoding="utf8") as handle:
        for line in handle:
            if line.startswith("# text = "):
                sentences.append(line[len("# text = "):].strip())
            if len(sentences) == 400:
                break
    (folder / "ewt.txt").write_text("\n".join(sentences) + "\n", encoding="utf8")
    return folder


def _run(project: Path, workflow: str, variables: dict) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "spacy", "project", "run", workflow, str(project)]
    for key, value in variables.items():
        args += [f"--vars.{key}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module", params=[pytest.param(name, marks=pytest.mark.slow)
                                        for name in ("all", "demo-steps")])
def workflow(request, tmp_path_factory):
    """A copy of the project after `spacy project run WORKFLOW`, the workflow's name and the
    variables it ran with."""
    name = request.param
    root = tmp_path_factory.mktemp(f"project_{name}")
    data = _tiny_data(root, conll03=name == "all")
    project = root / "project"
    project.mkdir()
    shutil.copy(PROJECT / "project.yml", project / "project.yml")
    for folder in ("configs", "scripts"):
        shutil.copytree(PROJECT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    variables = {
        "run": RUN, "local_data": data, "text_source": _tiny_text(root),
        "ud_dir": data / "ud-english-ewt" if name == "demo-steps" else "assets/ud",
        "uner_dir": data / "uner-english-ewt", "ner_corpus": "uner" if name == "demo-steps" else "conll03",
        "license_file": ROOT / "LICENSE", **(DEMO_VARS if name == "demo-steps" else {}),
        # never reached (the local copies are there), but no test should touch the network
        "conll03_url": "http://127.0.0.1:9/conll03", "ud_url": "http://127.0.0.1:9/ud",
        "conll03_n_sents": 2, "ud_n_sents": 2, "ud_dev_sents": 15,
        "bilm_config": "configs/pretrain_tiny.cfg", "bilm_steps": 20,
        "seeds": 0, "ner_steps": 5, "tp_steps": 5, "eval_frequency": 5, "train_limit": 20,
        "spretrain_epochs": 1, "adapt_steps": 3,
    }
    result = _run(project, name, variables)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    return project, name, variables, result.stdout


def test_every_step_ran(workflow):
    _, name, _, output = workflow
    assert [step for step in _banners(output) if step in STEPS[name]] == STEPS[name]
    assert "Skipping" not in output


def _banners(output: str):
    """The names in the banners (`==== name ====`: the steps', and spaCy's own), in order."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return re.findall(r"^=+ (\S+) =+$", plain, flags=re.M)


def test_report_has_every_variant_of_both_tasks(workflow):
    project, name, _, _ = workflow
    report = project / "runs" / RUN / "report"
    text = (report / "RESULTS.md").read_text(encoding="utf8")
    for task, metrics in TASKS.items():
        for metric in metrics:
            row = next(line for line in text.splitlines() if line.startswith(f"| {task} | {metric} |"))
            cells = [cell.strip() for cell in row.strip("|").split("|")][2:]
            # the fourth column: ELMo with the biLM adapted to the NER words (NER runs only)
            assert len(cells) == len(VARIANTS) + 1 and (cells[-1] == "–") == (task != "ner"), row
            assert all(re.match(r"\d+\.\d\d \(n=1\)", c) for c in cells[:len(VARIANTS)] + cells[4:]), row
    for png in ("pretrain_perplexity.png", "downstream.png", "dev_curves.png", "mix_weights.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    lm = json.loads((project / "runs" / RUN / "metrics" / "lm.json").read_text())
    assert f"{lm['average']:.1f}" in text
    ngrams = json.loads((project / "runs" / RUN / "metrics" / "lm_baselines.json").read_text())
    for key, label in (("unigram", "unigram (add-one)"), ("kn_trigram", "Kneser-Ney trigram")):
        assert f"| {label} | {ngrams[key]:.1f} |" in text
    assert "ner_elmo_s0 / tok2vec: softmax(s) = [" in text
    assert ("CoNLL-2003 testb" if name == "all" else DEMO_VARS["ner_test_name"]) + " (ner)" in text


def test_metrics_are_scores_of_every_variant(workflow):
    project, _, _, _ = workflow
    for task, metrics in TASKS.items():
        for variant in VARIANTS:
            path = project / "runs" / RUN / "metrics" / task / f"{task}_{variant}_s0.json"
            data = json.loads(path.read_text())
            for metric in metrics:
                assert 0.0 <= data[metric] <= 1.0, (path.name, metric, data[metric])
            assert data["max_steps"] == 5 and data["train_seconds"] > 0
            # patience 0: the step budget ends every run, and the log says how many ran
            assert (data["steps"], data["stopped"], data["seed"]) == (5, "max_steps", 0)
            # the training log kept beside the metrics, as committed results keep it
            log = [json.loads(line) for line in
                   path.with_name(path.stem + ".train_log.jsonl").read_text().splitlines()]
            assert max(r["step"] for r in log) == data["steps"]
            # the learned mixes of an ELMo run are those of the pipeline that was scored
            if variant == "elmo":
                scored = spacy.load(project / "runs" / RUN / "training" / task / path.stem / "model-best")
                expected = learned_mixes(scored)  # JSON keeps 10 digits
                assert data["mixes"].keys() == expected.keys() == {"tok2vec"}
                for found, mix in zip(data["mixes"]["tok2vec"], expected["tok2vec"]):
                    assert found["weights"] == pytest.approx(mix["weights"], abs=1e-9)
                    assert found["gamma"] == pytest.approx(mix["gamma"], abs=1e-9)
                assert abs(sum(data["mixes"]["tok2vec"][0]["weights"]) - 1.0) < 1e-5
            else:
                assert "mixes" not in data


def test_lm_perplexity_and_export(workflow):
    project, _, _, _ = workflow
    bilm_dir = project / "runs" / RUN / "bilm"
    lm = json.loads((project / "runs" / RUN / "metrics" / "lm.json").read_text())
    vocab_size = len((bilm_dir / "vocab.txt").read_text(encoding="utf8").splitlines())
    for key in ("forward", "backward", "average"):
        # a trained LM on its own text does better than guessing, and a perplexity is >= 1
        assert 1.0 <= lm[key] < vocab_size, (key, lm[key])
    records = [json.loads(line) for line in (bilm_dir / "log.jsonl").read_text().splitlines()]
    assert max(r.get("step", 0) for r in records) == 20
    bilm = load_allennlp(bilm_dir / "final" / "options.json", bilm_dir / "final" / "weights.hdf5")
    tiny = load_config(PROJECT / "configs" / "pretrain_tiny.cfg")["model"]
    (layers,) = bilm.embed([["The", "bank", "raised", "rates", "."]])
    assert layers.shape == (tiny["n_layers"] + 1, 5, 2 * tiny["projection_dim"])


def test_package_is_written(workflow):
    project, name, _, _ = workflow
    package = project / "packages" / RUN / f"en_elmo_ner_{RUN}-0.1.0"
    meta = json.loads((package / "meta.json").read_text())
    assert meta["name"] == f"elmo_ner_{RUN}" and meta["pipeline"] == ["elmo", "tok2vec", "ner"]
    assert meta["license"] == "MIT"
    assert (package / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    sources = (package / "LICENSES_SOURCES").read_text()
    assert sources.strip() == ("CoNLL-2003 English NER (Reuters RCV1; research use, see its license)"
                               if name == "all" else DEMO_VARS["ner_sources"])
    assert (package / "dist" / f"en_elmo_ner_{RUN}-0.1.0.tar.gz").exists()
    inner = package / f"en_elmo_ner_{RUN}" / f"en_elmo_ner_{RUN}-0.1.0"
    assert (inner / "config.cfg").exists() and (inner / "elmo").is_dir()


def test_trained_elmo_ner_pipeline_predicts_in_a_fresh_process(workflow):
    project, name, _, _ = workflow
    model = project / "runs" / RUN / "training" / "ner" / "ner_elmo_s0" / "model-best"
    code = (
        "import json, sys, spacy\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "doc = nlp('Peter Blackburn met the European Commission in Brussels .')\n"
        "print(json.dumps({'pipe_names': nlp.pipe_names, 'n': len(doc),\n"
        "    'shape': list(doc._.elmo_vectors.shape), 'ents': [e.label_ for e in doc.ents],\n"
        "    'labels': list(nlp.get_pipe('ner').labels)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    tiny = load_config(PROJECT / "configs" / "pretrain_tiny.cfg")["model"]
    assert out["pipe_names"] == ["elmo", "tok2vec", "ner"]
    assert out["shape"] == [out["n"], 2 * tiny["projection_dim"]]
    expected_labels = {"PER", "LOC", "ORG", "MISC"} if name == "all" else {"PER", "LOC", "ORG"}
    assert set(out["labels"]) <= expected_labels and out["labels"]
    assert set(out["ents"]) <= set(out["labels"])


def test_second_run_skips_every_step(workflow):
    project, name, variables, _ = workflow
    result = _run(project, name, variables)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in STEPS[name]:
        assert f"Skipping '{step}': nothing changed" in result.stdout, step
    assert "Running command" not in result.stdout


def test_adapted_bilm_runs_join_the_report(workflow):
    """adapt-bilm (spacy_elmo adapt on the NER train words, CoNLL-2003 or UNER), then
    train-ner-adapted: ELMo NER runs with the adapted biLM, named ner_elmo-adapted_s0 beside
    train-ner's, which the report lists as a fourth variant with the adaptation's perplexities."""
    project, name, variables, _ = workflow
    run = project / "runs" / RUN
    adapted_dir = run / "bilm_adapted" / "ner"
    records = [json.loads(line) for line in (adapted_dir / "run" / "log.jsonl").read_text().splitlines()]
    assert max(r.get("step", 0) for r in records) == 3
    done = records[-1]
    assert done["event"] == "adapted" and done["softmax"] == "kept"
    # the sentences of the NER train set: UNER's 60 minus the 15 of dev, or CoNLL's eng.train cut
    assert done["train"]["sentences"] == (45 if name == "demo-steps" else _conll_sentences(
        Path(variables["local_data"]) / "conll2003" / "eng.train"))
    assert done["dev_before"]["n_tokens"] == done["dev_after"]["n_tokens"] > 0
    pretrained = load_allennlp(run / "bilm" / "final" / "options.json", run / "bilm" / "final" / "weights.hdf5")
    adapted = load_allennlp(adapted_dir / "run" / "final" / "options.json",
                            adapted_dir / "run" / "final" / "weights.hdf5")
    sentence = [["Peter", "Blackburn", "met", "the", "Commission", "."]]
    assert abs(pretrained.embed(sentence)[0] - adapted.embed(sentence)[0]).max() > 1e-4
    assert "elmo" in spacy.load(adapted_dir).pipe_names
    plain = json.loads((run / "metrics" / "ner" / "ner_elmo_s0.json").read_text())
    data = json.loads((run / "metrics" / "ner_adapted" / "ner_elmo-adapted_s0.json").read_text())
    assert (data["steps"], data["stopped"], data["seed"]) == (5, "max_steps", 0)
    assert data["inputs"] != plain["inputs"] and data["mixes"]["tok2vec"]
    assert (run / "training" / "ner_adapted" / "ner_elmo-adapted_s0" / "model-best" / "config.cfg").exists()
    text = (run / "report" / "RESULTS.md").read_text(encoding="utf8")
    assert "| baseline | baseline + spacy pretrain | ELMo | ELMo (adapted biLM) |" in text
    assert f"| ner | ents_f | ELMo (adapted biLM) | {100 * data['ents_f']:.2f} |" in text
    assert "- ner_elmo-adapted_s0 / tok2vec: softmax(s) = [" in text
    before, after = (f"{done[k]['average']:.1f}" for k in ("dev_before", "dev_after"))
    assert f"| {before} | {after} |" in text


def _conll_sentences(path: Path) -> int:
    blocks = path.read_text(encoding="utf8").split("\n\n")
    return sum(1 for b in blocks if b.strip() and not b.strip().startswith("-DOCSTART-"))
