"""`convert` like the other commands (issue 20 item 4, issue 23 items 4 and 6): one coded
line per expected error, --force for an existing pipeline, never half-replaced."""
import errno
import json
import os
import shutil

import pytest
import spacy
from spacy.language import Language
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.convert import convert_efml_to_pipeline, convert_to_pipeline

from .conftest import EFML_FIXTURES, ROOT

EFML_MODEL = EFML_FIXTURES / "model"
runner = CliRunner()


def _convert(*args):
    return runner.invoke(app, ["convert", *map(str, args)])


def _fails(result, code: str) -> str:
    """The one error line of a failed command (no traceback), wrapping undone."""
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"✘ [{code}]" in text and "Traceback" not in text, text
    return text


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_an_output_path_that_is_a_file_is_one_line(tiny_files, tmp_path):
    out = tmp_path / "afile"
    out.write_text("keep me")
    _fails(_convert(*tiny_files, out), "E420")
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("lang", ["qq", "english", ""])
def test_an_unknown_lang_is_one_line(tiny_files, tmp_path, lang):
    text = _fails(_convert(*tiny_files, tmp_path / "out", "--lang", lang), "E425")
    assert f"'{lang}'" in text and not (tmp_path / "out").exists()


def test_an_original_folder_given_as_efml_model_dir_names_the_right_form(tiny_files, tmp_path):
    folder = tiny_files[0].parent
    text = _fails(_convert(folder, tmp_path / "out"), "E427")
    assert f"convert {folder}/options.json" in text


def test_an_efml_folder_given_as_options_json_names_the_right_form(tiny_files, tmp_path):
    text = _fails(_convert(EFML_MODEL, tiny_files[1], tmp_path / "out"), "E428")
    assert f"convert {EFML_MODEL} OUTPUT_DIR" in text


def test_an_existing_pipeline_is_replaced_only_with_force(tiny_files, tmp_path):
    out = tmp_path / "out"
    assert _convert(*tiny_files, out, "--lang", "de").exit_code == 0
    _fails(_convert(*tiny_files, out), "E422")
    assert spacy.load(out).lang == "de"  # untouched
    result = _convert(*tiny_files, out, "--force")
    assert result.exit_code == 0, result.output
    assert spacy.load(out).lang == "en"
    assert _listing(tmp_path) == ["out"]  # no partial, old or lock file left


def test_force_never_deletes_a_folder_that_is_not_a_pipeline(tiny_files, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _fails(_convert(*tiny_files, out, "--force"), "E423")
    assert _listing(out) == ["notes.txt"]


def test_the_output_never_is_or_holds_an_input(tiny_files, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_files[0].parent, folder)
    files = [folder / p.name for p in tiny_files]
    _fails(_convert(*files, folder, "--force"), "E421")
    _fails(_convert(*files, tmp_path, "--force"), "E421")
    assert all(path.is_file() for path in files)


def _break_to_disk(monkeypatch, error):
    """nlp.to_disk writes part of the pipeline, then fails (a kill, a full disk)."""
    original = Language.to_disk

    def to_disk(self, path, **kwargs):
        original(self, path, exclude=["elmo"])
        (path / "elmo").mkdir()
        (path / "elmo" / "model").write_bytes(b"")  # what kill -9 left before
        raise error

    monkeypatch.setattr(Language, "to_disk", to_disk)


@pytest.mark.parametrize("error,code", [(OSError(errno.ENOSPC, "No space left on device"), "E424"),
                                        (KeyboardInterrupt(), None)])
def test_a_failed_write_leaves_the_old_pipeline_whole(tiny_files, tmp_path, monkeypatch, error, code):
    out = tmp_path / "out"
    convert_to_pipeline(*tiny_files, out, lang="de")
    before = {p.name: p.read_bytes() for p in (out / "elmo").iterdir()}
    _break_to_disk(monkeypatch, error)
    if code is None:
        with pytest.raises(KeyboardInterrupt):
            convert_to_pipeline(*tiny_files, out, force=True)
    else:
        _fails(_convert(*tiny_files, out, "--force"), code)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in (out / "elmo").iterdir()} == before
    assert spacy.load(out).lang == "de"
    assert _listing(tmp_path) == ["out"]


def test_a_run_killed_between_the_renames_gets_the_old_pipeline_back(tiny_files, tmp_path):
    out = tmp_path / "out"
    convert_to_pipeline(*tiny_files, out, lang="de")
    os.rename(out, tmp_path / ".out.old")  # kill -9 after the first rename
    (tmp_path / ".out.partial").mkdir()
    with pytest.raises(ValueError, match=r"\[E422\]"):  # restored, so --force is needed
        convert_to_pipeline(*tiny_files, out)
    assert spacy.load(out).lang == "de" and _listing(tmp_path) == ["out"]


def test_a_read_only_parent_is_one_line(tiny_files, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        _fails(_convert(*tiny_files, parent / "out"), "E424")
    finally:
        parent.chmod(0o700)


def test_a_chinese_efml_model_with_the_char_segmenter_warns(tmp_path, monkeypatch):
    with pytest.warns(UserWarning, match=r"^\[W113\] .*--segmenter jieba"):
        convert_efml_to_pipeline(EFML_MODEL, tmp_path / "zh", lang="zh")
    result = _convert(EFML_MODEL, tmp_path / "zh2", "--lang", "zh")
    assert result.exit_code == 0 and "⚠ [W113]" in result.output
    result = _convert(EFML_MODEL, tmp_path / "zh3", "--lang", "zh", "--segmenter", "jieba")
    assert result.exit_code == 0 and "W113" not in result.output


def test_an_unknown_segmenter_is_one_line(tmp_path):
    _fails(_convert(EFML_MODEL, tmp_path / "zh", "--lang", "zh", "--segmenter", "foo"), "E426")


def test_meta_says_how_to_install_and_carries_license_and_source(tiny_files, tmp_path):
    out = tmp_path / "out"
    result = _convert(*tiny_files, out, "--license", "Apache-2.0", "--source", "https://example.org/elmo")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["requirements"] == ["spacy-elmo>=0.1.0"]
    assert "install spacy-elmo first" in meta["description"]
    assert meta["license"] == "Apache-2.0"
    assert meta["sources"] == [{"name": "https://example.org/elmo", "url": "https://example.org/elmo",
                                "license": "Apache-2.0"}]


def test_efml_license_and_source_come_from_its_config(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(EFML_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    config.update({"license": "CC-BY-4.0", "source": "ELMoForManyLangs (HIT-SCIR)"})
    (model / "config.json").write_text(json.dumps(config))
    convert_efml_to_pipeline(model, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["license"] == "CC-BY-4.0"
    assert meta["sources"][0]["name"] == "ELMoForManyLangs (HIT-SCIR)"


@pytest.mark.parametrize("command", ["pretrain", "vocab"])
def test_pretrain_and_vocab_refuse_an_unknown_config_lang(tmp_path, command):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat\nthe dog ran\n")
    config = ROOT / "project" / "configs" / "pretrain_tiny.cfg"
    out = tmp_path / ("run" if command == "pretrain" else "vocab.txt")
    result = runner.invoke(app, [command, str(config), str(out), "--paths.train", str(corpus),
                                 "--corpus.lang", "qq"])
    assert "[corpus] lang 'qq'" in _fails(result, "E425")
    assert not out.exists()


def test_a_segmenter_for_another_language_is_one_line(tmp_path):
    _fails(_convert(EFML_MODEL, tmp_path / "en", "--lang", "en", "--segmenter", "jieba"), "E720")


def test_a_wrong_number_of_paths_is_one_line(tmp_path):
    text = _fails(_convert(tmp_path / "out"), "E721")
    assert "convert takes MODEL_DIR OUTPUT_DIR" in text


def test_spacy_package_meta_and_readme_say_to_install_spacy_elmo(tiny_files, tmp_path):
    import importlib

    package = importlib.import_module("spacy.cli.package")  # the module, not the command
    out = convert_to_pipeline(*tiny_files, tmp_path / "out", license="Apache-2.0",
                              source="https://example.org/elmo")
    meta = package.get_meta(out, {})  # what `spacy package` writes into the package
    assert [r for r in meta["requirements"] if r.startswith("spacy-elmo")] == ["spacy-elmo>=0.1.0"]
    readme = package.generate_readme(meta)
    assert "install spacy-elmo first" in readme
    assert "Apache-2.0" in readme and "https://example.org/elmo" in readme
