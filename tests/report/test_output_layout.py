"""The output layout has one owner (report/output_folder.py): folder names, clashes, and where folders go."""

from __future__ import annotations

import pytest

from report import output_folder
from report.errors import ReportError


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
