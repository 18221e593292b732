"""model_files: where a model's files are found (one find_final for every reader)."""
from spacy_elmo.model_files import find_final, original_files


def test_find_final_takes_the_folder_then_its_final(tmp_path):
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "a.txt").write_text("x")
    (tmp_path / "final" / "b.txt").write_text("x")
    assert find_final(tmp_path, "a.txt", "b.txt") == tmp_path / "final"
    (tmp_path / "a.txt").write_text("x")
    assert find_final(tmp_path, "a.txt") == tmp_path
    assert find_final(tmp_path, "a.txt", "b.txt") == tmp_path / "final"  # all names in one folder
    assert find_final(tmp_path, "c.txt") is None
    assert original_files(tmp_path) is None
