"""Architecture adapters: tensor names against transformers' own models, the loader's conventions (position
offsets, RMSNorm without bias, untied heads, old key spellings), and a full report for every family."""

from __future__ import annotations

import json
import logging
import os
import shutil
from html import unescape

import numpy as np
import pytest
from pypdf import PdfReader
from safetensors.numpy import load_file, save_file

from report.cli import main
from report.load.architectures import ADAPTERS, UnsupportedModel, architecture_for
from report.load.hub import resolve
from report.load.loader import load_weights
from report.load.tokens import load_tokenizer, load_tokens
from report.run.context import Options
from report.run.pipeline import Request, build
from report.write.render import WarningLog
from tests.planted_families import FAMILIES, SPECS, UNIGRAM, write_family

TOKEN_INDEX = Options(frequency="token-index")  # the token-index frequency source, not the wordfreq proxy

ROTARY = ("gpt_neox", "llama")
POSITION_CLAIMS = (4, 5, 6, 7)


@pytest.fixture(scope="session")
def families(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("families")
    return {family: write_family(root / family, family) for family in FAMILIES}


def _config(folder) -> dict:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


# -- names ---------------------------------------------------------------------------------------------------

TRANSFORMERS_CLASS = {"bert": "BertForMaskedLM", "roberta": "RobertaForMaskedLM", "distilbert": "DistilBertForMaskedLM",
                      "gpt_neo": "GPTNeoForCausalLM", "opt": "OPTForCausalLM", "gpt_neox": "GPTNeoXForCausalLM",
                      "llama": "LlamaForCausalLM"}
HUB_SPELLINGS = {"embed_out.weight": "lm_head.weight"}  # Pythia's files predate transformers' rename


@pytest.mark.parametrize("family", FAMILIES)
def test_fixture_keys_are_the_ones_transformers_uses(families, family):
    """The tiny checkpoints spell every key, and shape every tensor, as transformers' own model does."""
    import transformers

    config = _config(families[family])
    model_config = transformers.AutoConfig.for_model(**config)
    model = getattr(transformers, TRANSFORMERS_CLASS[family])(model_config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    written = load_file(str(families[family] / "model.safetensors"))
    for key, array in written.items():
        name = HUB_SPELLINGS.get(key, key)
        assert name in expected, f"{family}: {key} is not a key of {TRANSFORMERS_CLASS[family]}"
        assert array.shape == expected[name], key


@pytest.mark.parametrize("family", FAMILIES)
def test_loader_reads_each_family(families, family):
    spec = SPECS[family]
    folder = families[family]
    weights = load_weights(resolve(str(folder)))
    raw = load_file(str(folder / "model.safetensors"))
    config = _config(folder)
    assert weights.architecture == family
    assert weights.d_model == 32 and weights.n_layers == 2
    roles = [ln.role for ln in weights.layer_norms]
    assert roles.count("ln_1") == roles.count("ln_2") == 2
    if family in ("bert", "roberta", "distilbert"):
        assert roles[0] == "ln_emb" and "ln_f" not in roles
        assert weights.word_start_rule == ("leading-space" if family == "roberta" else "no-continuation")
    else:
        assert roles[-1] == "ln_f"
    if spec.position_key is None:
        assert weights.position_embeddings is None and weights.n_positions == 0
    else:  # OPT and RoBERTa keep 2 unused rows in front; the loader drops them
        stored = raw[spec.position_key]
        assert np.array_equal(weights.position_embeddings, stored[spec.position_offset:])
        assert weights.n_positions == 32
    assert all(ln.has_bias != spec.rmsnorm for ln in weights.layer_norms)
    if spec.rmsnorm:
        assert all(not ln.bias.any() for ln in weights.layer_norms)
    assert weights.tied == (spec.untied_key is None) == config["tie_word_embeddings"]
    if spec.untied_key:
        assert np.array_equal(weights.unembedding, raw[spec.untied_key])


def test_old_layernorm_spelling_gamma_beta(families, tmp_path):
    """Early BERT checkpoints (bert-base-uncased) name LayerNorm parameters gamma and beta."""
    folder = tmp_path / "old-bert"
    shutil.copytree(families["bert"], folder)
    raw = load_file(str(folder / "model.safetensors"))
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in raw.items()}
    save_file(renamed, str(folder / "model.safetensors"))
    weights = load_weights(resolve(str(folder)))
    assert np.array_equal(weights.layer_norms[0].weight, raw["bert.embeddings.LayerNorm.weight"])
    assert "bert.embeddings.LayerNorm.gamma" in weights.tensor_sha256


def test_wordpiece_continuations_are_not_word_starts(families):
    folder = families["bert"]
    weights = load_weights(resolve(str(folder)))
    tokens = load_tokens(load_tokenizer(folder), weights.vocab_rows, weights.word_start_rule)
    pieces = [i for i, raw in enumerate(tokens.raw) if raw.startswith("##")]
    assert pieces and not tokens.word_start[pieces].any()
    words = [i for i, raw in enumerate(tokens.raw) if raw.isalpha() and not tokens.special[i]]
    assert tokens.word_start[words].all()
    assert tokens.display[pieces[0]].startswith("##")


# -- configs -------------------------------------------------------------------------------------------------

def test_every_adapter_is_listed_in_the_refusal():
    with pytest.raises(UnsupportedModel) as caught:
        architecture_for({"model_type": "t5"})
    message = str(caught.value)
    assert "'t5' is not supported" in message
    for name in ADAPTERS:
        assert name in message


def test_missing_model_type_and_missing_sizes():
    with pytest.raises(UnsupportedModel, match="without a model_type"):
        architecture_for({})
    with pytest.raises(ValueError, match="num_hidden_layers"):
        architecture_for({"model_type": "llama", "hidden_size": 8, "vocab_size": 10})


def test_opt_with_a_projection_is_refused():
    config = {"model_type": "opt", "hidden_size": 1024, "word_embed_proj_dim": 512, "num_hidden_layers": 24,
              "vocab_size": 50272, "max_position_embeddings": 2048}
    with pytest.raises(UnsupportedModel, match="project"):
        architecture_for(config)


def test_post_ln_opt_has_no_final_norm():
    config = {"model_type": "opt", "hidden_size": 16, "num_hidden_layers": 2, "vocab_size": 10,
              "max_position_embeddings": 8, "do_layer_norm_before": False}
    arch = architecture_for(config)
    assert [s.role for s in arch.layer_norms] == ["ln_1", "ln_2", "ln_1", "ln_2"]
    assert any("post-LN" in note for note in arch.notes)


def test_unsupported_model_type_exits_cleanly(tmp_path, capsys):
    folder = tmp_path / "t5-tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}), encoding="utf-8")
    code = main(["--model", str(folder), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.startswith("error: ")
    assert "model_type 't5' is not supported" in err and "gpt2" in err and "bert" in err
    assert len(err.strip().splitlines()) == 1


# -- whole reports -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def family_reports(families, tmp_path_factory) -> dict:
    """Every family's report, written once; a failure is kept and raised by the tests of that family."""
    out = tmp_path_factory.mktemp("family-reports")
    previous = os.environ.get("WEIGHTS_REPORT_NO_CACHE")
    os.environ["WEIGHTS_REPORT_NO_CACHE"] = "1"
    reports = {}
    try:
        for family, folder in families.items():
            watch = WarningLog()
            logging.getLogger("weasyprint").addHandler(watch)
            try:
                written = build(Request(model=str(folder), options=TOKEN_INDEX), out, show_progress=False)
                reports[family] = (written, watch.messages)
            except Exception as exc:  # noqa: BLE001 - reported per family below
                reports[family] = exc
            finally:
                logging.getLogger("weasyprint").removeHandler(watch)
    finally:
        if previous is None:
            os.environ.pop("WEIGHTS_REPORT_NO_CACHE", None)
        else:
            os.environ["WEIGHTS_REPORT_NO_CACHE"] = previous
    return reports


def _report(family_reports, family):
    built = family_reports[family]
    if isinstance(built, Exception):
        raise built
    return built


@pytest.mark.parametrize("family", FAMILIES)
def test_family_report_end_to_end(family_reports, family):
    folder, pdf_warnings = _report(family_reports, family)
    for name in ("report.html", "report.pdf", "results.json"):
        assert (folder / name).stat().st_size > 0
    assert sorted(p.stem for p in (folder / "figures").glob("*.svg")) == \
        sorted(p.stem for p in (folder / "figures").glob("*.png"))
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["model"]["architecture"] == family
    assert results["model"]["d_model"] == 32
    card = results["analyses"]["model_card"]
    assert card["analysed_matrix"] == "input embedding"
    assert card["word_start_rule"] == ("no-continuation" if SPECS[family].wordpiece else "leading-space")
    html = unescape((folder / "report.html").read_text(encoding="utf-8"))
    for note in card["conventions"]:
        assert note in html
    pages = len(PdfReader(str(folder / "report.pdf")).pages)
    assert pages >= 4
    assert not [w for w in pdf_warnings if "glyph" in w.lower()]


@pytest.mark.parametrize("family", FAMILIES)
def test_unigram_dim_is_read_from_the_norm_that_feeds_the_mlp(family_reports, family):
    """Post-LN blocks feed the MLP from their first norm, pre-LN blocks from their second; the other norm
    carries a decoy dim that must not be taken for the unigram dim."""
    folder, _ = _report(family_reports, family)
    unigram = json.loads((folder / "results.json").read_text(encoding="utf-8"))["analyses"]["unigram"]
    post_ln = SPECS[family].post_ln
    assert unigram["norm"]["role"] == ("ln_1" if post_ln else "ln_2")
    assert unigram["dim"] == UNIGRAM and unigram["standout"]
    html = unescape((folder / "report.html").read_text(encoding="utf-8"))
    label = "LN1" if post_ln else "LN2"
    assert f"{label} layers where it stands out" in html
    assert ("so that norm is LN1, the one after attention" in html) == post_ln


@pytest.mark.parametrize("config,role", [({"do_layer_norm_before": True}, "ln_2"),
                                         ({"do_layer_norm_before": False}, "ln_1"),
                                         ({}, "ln_2")])
def test_opt_names_its_pre_mlp_norm(config, role):
    base = {"model_type": "opt", "hidden_size": 16, "num_hidden_layers": 2, "vocab_size": 10,
            "max_position_embeddings": 8}
    assert architecture_for(base | config).mlp_norm_role == role


@pytest.mark.parametrize("family", ROTARY)
def test_rotary_models_skip_the_position_analyses_with_a_reason(family_reports, family):
    folder, _ = _report(family_reports, family)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["model"]["n_positions"] == 0
    assert results["analyses"]["position"]["has_position_embeddings"] is False
    verdicts = {c["id"]: c["verdict"] for c in results["claims"]}
    assert all(verdicts[i] == "not-applicable" for i in POSITION_CLAIMS if i in verdicts)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "rotary" in html and "no learned position embeddings" in html
    assert not any("position_std_histogram" in p.name for p in (folder / "figures").iterdir())


@pytest.mark.parametrize("family", ROTARY)
def test_untied_models_summarise_the_output_matrix(family_reports, family):
    folder, _ = _report(family_reports, family)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["model"]["tied_embeddings"] is False
    summary = results["analyses"]["model_card"]["unembedding"]
    # the fixture's output matrix is 0.5 × the input one plus noise: norms track, directions mostly agree
    assert summary["norm_spearman"] > 0.5 and summary["row_cos_median"] > 0.5
    assert 0.3 < summary["norm_ratio_median"] < 1.0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Input and output embeddings" in html and "every section analyses the input embedding" in html


def test_rmsnorm_model_says_it_has_no_biases(family_reports):
    folder, _ = _report(family_reports, "llama")
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["analyses"]["model_card"]["norm_kind"].startswith("RMSNorm")
    assert "RMSNorm" in (folder / "report.html").read_text(encoding="utf-8")
