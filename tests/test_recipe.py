"""The recipe of docs/development.md done for real: in a copy of the source tree, a section with one new claim is
added as four new files plus one line in the section registry, and nothing else. The report then shows the section
and its claim (HTML, results.json, checklist) and the calibration scores the claim on its null models, flagged
"no planted effect" for power. A ClaimSpec that gives a planting function is planted and scored for power."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from analyses.calibration import PLANTED_EFFECTS, null_model, planted_model
from analyses.claims import BY_ID, BY_NAME, TOKENS, ClaimSpec

ROOT = Path(__file__).resolve().parent.parent
TREE = ("analyses", "report", "templates", "tests", "pyproject.toml")  # what a report and its tests need
REGISTRY_FILE = "report/sections/__init__.py"
NAME = "first_token"  # the new section's key, module and template name
CLAIM_NAME = "first_token_long"
TITLE = "How long the first token is"
STATEMENT = "The first token has a longer embedding than most tokens."

ANALYSIS = '''"""How long the first token's embedding is among all tokens' (written by tests/test_recipe.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses.claims import TOKENS, Claim, ClaimSpec, claim, declare
from analyses.vectors import row_norms

CLAIM = declare(ClaimSpec({number}, "{claim_name}", "{statement}", "{name}", __name__, (TOKENS,)))
LEVEL = 0.05  # the false "holds" rate where the first token is like any other


@dataclass(frozen=True)
class FirstTokenResult:
    """The first token's embedding norm among all tokens'.

    Attributes:
        norm: the first token's embedding norm (embedding units).
        percentile: the share of tokens shorter than the first (0-1; uniform when it is like any other).
        claims: the verdict on {claim_name}.
    """

    norm: float
    percentile: float
    claims: tuple[Claim, ...]


def analyse_first_token(embeddings: np.ndarray) -> FirstTokenResult:
    norms = row_norms(embeddings)
    percentile = float(np.mean(norms < norms[0]))
    p = float(np.mean(norms >= norms[0]))  # exact p-value when the first token is exchangeable with the rest
    rule = (f"effect size: the share of tokens shorter than the first; null: the first token exchangeable with "
            f"the others (p = the share at least as long); holds if p <= {{LEVEL}}")
    verdict = claim(CLAIM.name, percentile, p <= LEVEL, rule, f"norm {{norms[0]:.3g}}, p = {{p:.3g}}")
    return FirstTokenResult(float(norms[0]), percentile, (verdict,))
'''

SECTION = '''"""Section: how long the first token's embedding is (written by tests/test_recipe.py)."""

from __future__ import annotations

from analyses.first_token import FirstTokenResult, analyse_first_token
from report.run.context import RunContext
from report.run.section import Section


def run(ctx: RunContext) -> FirstTokenResult:
    return analyse_first_token(ctx.embeddings)


def to_json(r: FirstTokenResult, ctx: RunContext) -> dict:
    return {{"norm": r.norm, "percentile": r.percentile}}


def figures(r: FirstTokenResult, ctx: RunContext) -> list:
    return []


def context(r: FirstTokenResult, ctx: RunContext) -> dict:
    return {{"j": to_json(r, ctx)}}


SECTION = Section("{name}", "{title}", run, to_json, figures, context, result=FirstTokenResult)
'''

TEMPLATE = """{% import "macros.html.j2" as m %}
<p>The first token's embedding norm is {{ ctx.j.norm | num }}, longer than {{ ctx.j.percentile | pct }} of tokens.</p>
{{ m.claim_rows(claims) }}
"""

TEST = '''import numpy as np

from analyses.first_token import analyse_first_token


def test_a_first_token_longer_than_all_others_holds():
    w = np.random.default_rng(0).normal(size=(400, 16))
    w[0] = 3 * w[np.argmax(np.linalg.norm(w, axis=1))]
    r = analyse_first_token(w)
    assert r.percentile == 399 / 400 and r.claims[0].verdict == "holds"


def test_a_first_token_of_median_length_does_not_hold():
    w = np.random.default_rng(1).normal(size=(401, 16))
    w = w[np.argsort(np.linalg.norm(w, axis=1))[[200, *range(200), *range(201, 401)]]]
    r = analyse_first_token(w)
    assert r.percentile == 200 / 401 and r.claims[0].verdict == "fails"
'''

# Runs in the copy: the new analysis's own tests, a report of the planted checkpoint, the calibration on one model.
RUN = '''import json, sys
from pathlib import Path
import pytest
import analyses
assert Path(analyses.__file__).parent == Path.cwd() / "analyses", analyses.__file__
facts = {"tests": int(pytest.main(["-q", "-p", "no:cacheprovider", "tests/analyses/test_first_token.py"]))}
from report.write import render
from report.cli import main
def no_pdf(html, target):  # the PDF is not what this test is about, and it is slow
    Path(target).write_bytes(b"%PDF-1.4\\n")
    return []
render.write_pdf = no_pdf
checkpoint, corpus, out = sys.argv[1:4]
facts["report"] = main(["--model", checkpoint, "--out", out, "--corpus", corpus, "--quiet", "--no-experiments"])
from analyses.calibration import PLANTED_EFFECTS, null_model, planted_model
from analyses.claims import BY_NAME
from report import calibrate
from report.run.synthetic_run import verdicts
number = BY_NAME["first_token_long"].id
model = null_model("gaussian", 32, 600, seed=1)
decided = verdicts(model, seed=0, expensive=False)
facts["verdict"] = decided.get(number, [None])[0]
facts["absent_in_null"] = number in model.absent
facts["planted"] = number in PLANTED_EFFECTS or number in planted_model(1.0, 32, 600, seed=1).present
outcome = {"task": [32, 600, 0, "gaussian", False, 0], "absent": sorted(model.absent), "present": [],
           "verdicts": {str(c): list(v) for c, v in decided.items()}}
rows = calibrate._count([outcome])
size = {"size": "d=32, V=600", "zero_layer_and_clump": 0}
summary = calibrate.summarise({"sizes": [size], "claims": {str(c): {size["size"]: row} for c, row in rows.items()}})
facts["null_models"] = rows[number]["null"]
facts["misses"] = summary[str(number)]["misses"]
facts["study_claim_misses"] = summary["9"]["misses"]
Path(sys.argv[4]).write_text(json.dumps(facts))
'''


def _files(root: Path) -> dict[str, bytes]:
    found = {}
    for top in TREE:
        paths = [root / top] if (root / top).is_file() else (root / top).rglob("*")
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def _copy_tree(target: Path) -> None:
    for top in TREE:
        if (ROOT / top).is_file():
            shutil.copy2(ROOT / top, target / top)
        else:
            shutil.copytree(ROOT / top, target / top, ignore=shutil.ignore_patterns("__pycache__"))


def _follow_the_recipe(tree: Path, number: int) -> None:
    """Exactly what docs/development.md says a section with one claim takes."""
    fields = {"number": number, "claim_name": CLAIM_NAME, "statement": STATEMENT, "name": NAME, "title": TITLE}
    (tree / "analyses" / f"{NAME}.py").write_text(ANALYSIS.format(**fields), encoding="utf-8")
    (tree / "report" / "sections" / f"{NAME}.py").write_text(SECTION.format(**fields), encoding="utf-8")
    (tree / "templates" / "sections" / f"{NAME}.html.j2").write_text(TEMPLATE, encoding="utf-8")
    (tree / "tests" / "analyses" / f"test_{NAME}.py").write_text(TEST, encoding="utf-8")
    registry = tree / REGISTRY_FILE
    text = registry.read_text(encoding="utf-8")
    anchor = '    Entry("claims"),\n'  # run order: above the checklist, which gathers every earlier claim
    assert text.count(anchor) == 1
    registry.write_text(text.replace(anchor, f'    Entry("{NAME}"),\n' + anchor), encoding="utf-8")


def test_a_section_with_one_claim_is_four_new_files_and_one_registry_line(planted, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    _copy_tree(tree)
    number = max(BY_ID) + 1
    _follow_the_recipe(tree, number)

    before, after = _files(ROOT), _files(tree)
    assert sorted(set(after) - set(before)) == sorted([f"analyses/{NAME}.py", f"report/sections/{NAME}.py",
                                                       f"templates/sections/{NAME}.html.j2",
                                                       f"tests/analyses/test_{NAME}.py"])
    assert set(before) <= set(after)
    assert [path for path in before if before[path] != after[path]] == [REGISTRY_FILE]
    diff = [line for line in difflib.unified_diff(before[REGISTRY_FILE].decode().splitlines(),
                                                  after[REGISTRY_FILE].decode().splitlines(), n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert diff == [f'+    Entry("{NAME}"),']

    facts_file, out = tmp_path / "facts.json", tmp_path / "out"
    env = os.environ | {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                        "HF_HUB_OFFLINE": "1", "WEIGHTS_REPORT_NO_CACHE": "1"}
    done = subprocess.run([sys.executable, "-c", RUN, str(planted.folder), str(planted.corpus), str(out),
                           str(facts_file)], cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    assert facts["tests"] == 0 and facts["report"] == 0, done.stdout[-3000:]

    folder = out / planted.folder.name
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert set(results["analyses"][NAME]) == {"norm", "percentile"}
    row = next(c for c in results["claims"] if c["id"] == number)
    assert (row["name"], row["statement"]) == (CLAIM_NAME, STATEMENT)
    assert row["verdict"] in ("holds", "fails")
    assert results["analyses"]["claims"]["of"] == len(BY_ID) + 1
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert TITLE in html and html.count(STATEMENT) >= 2  # its section's claim table and the checklist

    assert facts["verdict"] in ("holds", "fails") and facts["absent_in_null"] and facts["null_models"] == 1
    assert not facts["planted"]
    assert facts["misses"] and facts["misses"][0].startswith("no planted effect")
    assert not any(m.startswith("no planted effect") for m in facts["study_claim_misses"])


def _first_row_longer(model, size: float, rng: np.random.Generator):
    tokens = model.tokens.copy()
    tokens[0] *= np.float32(1 + 2 * size)
    return replace(model, tokens=tokens)


def test_a_claim_spec_with_a_planting_function_is_planted_and_scored_for_power(monkeypatch):
    plain = planted_model(1.0, 32, 600, seed=3)
    number = max(BY_ID) + 1
    new = ClaimSpec(number, CLAIM_NAME, STATEMENT, "svd", "analyses.svd", (TOKENS,), plant=_first_row_longer)
    monkeypatch.setitem(BY_ID, number, new)
    monkeypatch.setitem(BY_NAME, CLAIM_NAME, new)
    planted = planted_model(1.0, 32, 600, seed=3)
    assert number in PLANTED_EFFECTS and number in planted.present and number not in plain.present
    assert np.array_equal(planted.tokens[0], plain.tokens[0] * np.float32(3))
    assert np.array_equal(planted.tokens[1:], plain.tokens[1:]) and np.array_equal(planted.ln2, plain.ln2)
    assert number in null_model("gaussian", 32, 600, seed=3).absent  # every null family lacks it unless it says
    assert number not in planted_model(1.0, 32, 600, seed=3, contrast=True).present
