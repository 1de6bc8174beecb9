"""The --corpus file's encoding: a byte-order mark is honoured, anything that is not text is refused."""

from __future__ import annotations

import codecs
import random

import numpy as np
import pytest

from report.errors import ReportError
from report.load.corpus import check
from report.load.frequency import from_corpus
from report.load.sequences import corpus_sequences
from report.load.tokens import load_tokenizer

TEXT = "the river runs past the stone garden; naïve café 😂\nthe market window\n" * 200
ENCODED = {
    "UTF-8": TEXT.encode("utf-8"),
    "UTF-8 (from its byte-order mark)": codecs.BOM_UTF8 + TEXT.encode("utf-8"),
    "UTF-16 LE (from its byte-order mark)": codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    "UTF-16 BE (from its byte-order mark)": codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
    "UTF-32 LE (from its byte-order mark)": codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"),
    "UTF-32 BE (from its byte-order mark)": codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"),
}


@pytest.fixture(scope="module")
def tokenizer(planted):
    return load_tokenizer(planted.folder)


@pytest.mark.parametrize("encoding", list(ENCODED))
def test_byte_order_marks_are_decoded_and_named(tmp_path, planted, tokenizer, encoding):
    path = tmp_path / "corpus.txt"
    path.write_bytes(ENCODED[encoding])
    assert check(path).encoding == encoding
    with check(path).open() as handle:
        assert handle.read() == TEXT
    reference = tmp_path / "reference.txt"
    reference.write_bytes(TEXT.encode("utf-8"))
    freq = from_corpus(tokenizer, path, planted.vocab_size)
    assert np.array_equal(freq.counts, from_corpus(tokenizer, reference, planted.vocab_size).counts)
    assert freq.detail.endswith(f"({encoding})")
    sequences = [corpus_sequences(tokenizer, file, 256, 16).ids for file in (path, reference)]
    assert np.array_equal(*sequences)


def _refused(tmp_path, tokenizer, rows, data: bytes) -> str:
    """The refusal, the same from every reader of the corpus."""
    path = tmp_path / "corpus.bin"
    path.write_bytes(data)
    messages = []
    for read in (lambda: check(path), lambda: from_corpus(tokenizer, path, rows),
                 lambda: corpus_sequences(tokenizer, path, 256, 16)):
        with pytest.raises(ReportError) as caught:
            read()
        messages.append(str(caught.value))
    assert len(set(messages)) == 1, messages
    return messages[0]


def test_random_bytes_are_refused_as_binary(tmp_path, planted, tokenizer):
    data = random.Random(0).randbytes(50_000)
    message = _refused(tmp_path, tokenizer, planted.vocab_size, data)
    assert "is not UTF-8 text: byte " in message and "looks binary" in message and "NUL" in message


def test_utf16_without_a_mark_is_refused_with_a_guess(tmp_path, planted, tokenizer):
    message = _refused(tmp_path, tokenizer, planted.vocab_size, TEXT.encode("utf-16-le"))
    assert "UTF-16 or UTF-32 without a byte-order mark" in message


def test_the_first_bad_byte_is_placed_exactly(tmp_path, planted, tokenizer):
    good = TEXT.encode("utf-8") * 200  # past the first chunk the check reads
    message = _refused(tmp_path, tokenizer, planted.vocab_size, good + b"\xe9t\xe9")
    assert f"byte {len(good):,} (0xe9)" in message and "another encoding" in message


def test_nul_bytes_that_decode_are_still_refused(tmp_path, planted, tokenizer):
    message = _refused(tmp_path, tokenizer, planted.vocab_size, b"text\0\0\0\0" * 1000)
    assert "control characters" in message and "4,000 of them NUL" in message


def test_a_stray_control_byte_in_long_text_is_kept(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(TEXT.encode("utf-8") + b"\x07")
    assert check(path).encoding == "UTF-8"
