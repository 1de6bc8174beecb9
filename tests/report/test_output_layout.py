"""The output layout has one owner (report/output_folder.py), and the upper layers import it openly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from report import output_folder
from report.errors import ReportError

ROOT = Path(__file__).resolve().parents[2]
# analyses/calibration.py is left out only while issue 13 rewrites it (its imports run the analyses it calibrates)
MODULES = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("report/**/*.py"), *ROOT.glob("analyses/*.py")]
                 if p.name != "calibration.py" or p.parent.name != "analyses")


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


@pytest.mark.parametrize("path", MODULES)
def test_no_project_import_is_hidden_in_a_function(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    hidden = [f"line {node.lineno}" for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))
              and any(name.split(".")[0] in ("report", "analyses")
                      for name in [getattr(node, "module", None) or "", *(a.name for a in node.names)])]
    assert not hidden, f"{path} imports project modules inside functions: {hidden}"


def test_no_module_reaches_for_a_private_name_of_another():
    for path in sorted(ROOT.glob("report/**/*.py")) + sorted(ROOT.glob("analyses/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("report", "analyses"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
                assert not private, f"{path.relative_to(ROOT)} imports {private} from {node.module}"
