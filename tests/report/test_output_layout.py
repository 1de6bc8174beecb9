"""The output layout has one owner (report/write/output_folder.py): folder names, clashes, and where folders go."""

from __future__ import annotations

import pytest

from report.errors import ReportError
from report.write import output_folder


def test_folder_names_clash_and_the_comparison_folder_are_refused():
    assert output_folder.report_folders(["org/model-a", "org/model-b"]) == ["org--model-a", "org--model-b"]
    with pytest.raises(ReportError, match="would both be written"):
        output_folder.report_folders(["org/model", "org/model"])
    with pytest.raises(ReportError, match="where the comparison goes"):
        output_folder.report_folders([output_folder.COMPARISON_FOLDER, "gpt2"])
    assert output_folder.report_folders([output_folder.COMPARISON_FOLDER]) == [output_folder.COMPARISON_FOLDER]


def test_every_folder_of_a_run_is_checked_including_the_comparison(tmp_path):
    (tmp_path / output_folder.COMPARISON_FOLDER).mkdir()
    (tmp_path / output_folder.COMPARISON_FOLDER / "notes.txt").write_text("a user's file")
    output_folder.check_run_destinations(tmp_path, ["a"], [])  # one model: no comparison is written
    with pytest.raises(ReportError, match="was not written by this tool"):
        output_folder.check_run_destinations(tmp_path, ["a", "b"], [])
    assert (tmp_path / output_folder.COMPARISON_FOLDER / "notes.txt").read_text() == "a user's file"


def test_destination_folder_stays_inside_the_output_folder(tmp_path):
    out = tmp_path / "new" / "out"
    folder = output_folder.destination_folder(out, "org/../../model")
    assert folder.parent == out.resolve() and out.is_dir() and folder.name == "org--..--..--model"


def test_folder_names_keep_every_script_and_stay_distinct():
    names = ["模型一", "модель", "नमूना", "e\u0301te\u0301"]  # the last one decomposed, as macOS stores it
    assert [output_folder.slug(n) for n in names] == ["模型一", "модель", "नमूना", "été"]
    unsafe = ["a/b", "a\\b", "a\x00b", "a\nb", "\u202eexe.txt", "..", ".hidden", "x\udcffy"]
    for text in unsafe:
        name = output_folder.slug(text)
        assert name and not name.startswith(".") and not any(c in name for c in "/\\\x00\n\u202e"), (text, name)
        name.encode("utf-8")  # no surrogate left from an undecodable byte
    emptied = [output_folder.slug(t) for t in ["🚀", "🔥", "...", "@@"]]  # nothing kept: a hash tells them apart
    assert len(set(emptied)) == 4 and all(n.startswith("model-") for n in emptied)


@pytest.mark.parametrize("unit", ["a", "模", "é"])
def test_long_names_fit_the_file_system_and_stay_distinct(unit):
    one, other = unit * 240, unit * 239 + "z"
    names = [output_folder.slug(one), output_folder.slug(other)]
    assert names[0] != names[1]
    for name in names:
        assert len(name.encode("utf-8")) <= output_folder.NAME_BYTES
        assert output_folder.slug(name) == name  # stable: checked and written under the same name
        staging = f".{name}.staging-{2 ** 22}-abcdefgh"  # the longest sibling this tool makes
        assert len(staging.encode("utf-8")) <= 255
    assert output_folder.slug(one) == names[0]  # the same every run
