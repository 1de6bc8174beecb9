"""The experiments' text: the built-in corpus at the default budget, a --corpus file at separated places."""

from __future__ import annotations

import numpy as np

from report.load.sequences import MIN_SEQUENCES, allocate, corpus_sequences, default_documents, sequence_length, starts
from report.load.tokens import load_tokenizer
from report.run.context import Options


def test_the_default_budget_gives_at_least_100_sequences():
    length = sequence_length(Options.max_tokens, 1024)
    assert Options.max_tokens // length >= MIN_SEQUENCES
    assert sequence_length(100 * 128, 1024) == 128 and sequence_length(100 * 128, 64) == 64


def test_windows_never_overlap_and_documents_share_the_sequences():
    for n, k in ((100, 3), (97, 12), (40, 1), (64, 8)):
        begin = starts(n, 8, k)
        assert len(begin) == k and all(b - a >= 8 for a, b in zip(begin, begin[1:])) and begin[-1] + 8 <= n
    assert allocate([5, 1, 0, 3], 6) == [3, 1, 0, 2] and allocate([1, 1], 9) == [1, 1]


def test_the_built_in_corpus_spreads_100_sequences_over_many_documents(planted):
    name, texts, digest = default_documents()
    assert len(texts) >= 50 and "pydoc_data" in name and len(digest) == 64
    text = corpus_sequences(load_tokenizer(planted.folder), None, Options.max_tokens, 1024)
    assert len(text.ids) >= MIN_SEQUENCES and text.unit == "document" and text.encoding is None
    assert text.documents >= 50 and np.bincount(text.clusters).max() <= 3  # no document dominates
    again = corpus_sequences(load_tokenizer(planted.folder), None, Options.max_tokens, 1024)
    assert np.array_equal(text.ids, again.ids) and text.sha256 == again.sha256


def test_a_corpus_file_is_one_text_sampled_at_separated_places(planted):
    text = corpus_sequences(load_tokenizer(planted.folder), planted.corpus, 800, 64)
    assert text.ids.shape == (100, 8) and text.unit == "sequence" and text.documents == 1
    assert np.array_equal(text.clusters, np.arange(100)) and text.encoding == "UTF-8"
