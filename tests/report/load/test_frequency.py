"""Frequency sources: exact corpus counts, the wordfreq proxy, and the token-index fallback."""

from __future__ import annotations

import numpy as np
import pytest

from report.errors import ReportError
from report.load.frequency import from_corpus, from_token_index, from_wordfreq
from report.load.tokens import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(planted):
    return load_tokenizer(planted.folder)


def test_corpus_counts_are_exact(planted, tokenizer, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the river the river\nthe\n", encoding="utf-8")
    freq = from_corpus(tokenizer, corpus, planted.vocab_size)
    expected = np.zeros(planted.vocab_size)
    for line in ["the river the river\n", "the\n"]:
        np.add.at(expected, tokenizer(line, add_special_tokens=False)["input_ids"], 1)
    assert np.array_equal(freq.counts, expected)
    known = expected > 0
    assert np.allclose(freq.log_frequency[known], np.log10(expected[known] / expected.sum()))
    assert np.isnan(freq.log_frequency[~known]).all()
    assert freq.kind == "corpus" and f"{int(expected.sum())} tokens" in freq.detail


def test_empty_corpus_is_refused(planted, tokenizer, tmp_path):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("", encoding="utf-8")
    with pytest.raises(ReportError, match="no text"):
        from_corpus(tokenizer, corpus, planted.vocab_size)


def test_proxy_credits_common_words_with_and_without_space(planted, tokenizer):
    freq = from_wordfreq(tokenizer, planted.vocab_size)
    assert freq.kind == "proxy"
    vocab = tokenizer.get_vocab()
    the_spaced, the_capital = vocab["Ġthe"], vocab["The"]  # " the" takes 80% of the word's share, "The" 10%
    assert freq.counts[the_spaced] > freq.counts[the_capital] > 0
    assert freq.log_frequency[the_spaced] > freq.log_frequency[vocab["Ġdragon"]]
    assert 0 < freq.known < planted.vocab_size


def test_token_index_fallback_has_no_frequencies():
    freq = from_token_index(10)
    assert freq.kind == "token-index" and freq.known == 0
