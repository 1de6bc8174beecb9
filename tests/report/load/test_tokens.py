"""Token strings are shown readably and safely, and word starts are flagged."""

from __future__ import annotations

from report.load.tokens import build_table, byte_decoder, load_tokenizer, load_tokens, readable
from report.write.render import fmt_token

TO_UNICODE = {b: c for c, b in byte_decoder().items()}


def byte_level(data: bytes) -> str:
    return "".join(TO_UNICODE[b] for b in data)


def test_readable_marks_spaces_and_escapes_invisibles():
    assert readable(b" the") == ("␣the", False)
    assert readable("\u202eevil".encode()) == ("\\u{202e}evil", False)
    assert readable("zero\u200bwidth".encode()) == ("zero\\u{200b}width", False)
    assert readable(b"\xe2\x80") == ("\\xe2\\x80", True)
    assert readable(b"\x00\n") == ("\\u{0000}\\n", True)
    assert readable("龍喚士".encode()) == ("龍喚士", False)


def test_byte_level_table_flags_word_starts_and_specials():
    raw = ["<|endoftext|>", byte_level(b" the"), byte_level(b"the"), byte_level(b"\xff"), byte_level(b"</td>")]
    table = build_table(raw, {"<|endoftext|>"}, rows=6, rule="leading-space")
    assert table.byte_level
    assert list(table.word_start) == [False, True, False, False, False, False]
    assert list(table.special) == [True, False, False, False, False, False]
    assert list(table.has_token) == [True, True, True, True, True, False]
    assert table.data[1] == b" the" and table.display[1] == "␣the"
    assert table.unprintable[3] and table.display[3] == "\\xff"
    assert table.display[5].startswith("<row 5")


def test_wordpiece_continuations_are_not_word_starts():
    table = build_table(["[CLS]", "play", "##ing"], {"[CLS]"}, rows=3, rule="no-continuation")
    assert not table.byte_level
    assert list(table.word_start) == [False, True, False]
    assert table.display[2] == "##ing"


def test_sentencepiece_pieces_and_byte_fallback():
    table = build_table(["<s>", "▁the", "ing", "<0x0A>", "▁▁"], {"<s>"}, rows=5, rule="leading-space")
    assert not table.byte_level
    assert list(table.word_start) == [False, True, False, False, True]
    assert table.data[1] == b" the" and table.display[1] == "␣the"
    assert table.data[3] == b"\n" and table.display[3] == "\\n"


def test_token_markup_is_escaped():
    html = str(fmt_token({"id": 7, "text": "<script>alert(1)</script>", "bytes": "3c73"}))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'title="id 7 · bytes 3c 73"' in html


def test_planted_tokenizer_round_trip(planted):
    tokenizer = load_tokenizer(planted.folder)
    table = load_tokens(tokenizer, planted.vocab_size, "leading-space")
    assert list(table.word_start) == list(planted.word_start)
    assert "<script>alert(1)</script>" in table.display
    assert "\\u{202e}evil" in table.display
