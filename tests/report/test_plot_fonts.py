"""Figures draw the scripts of multilingual vocabularies with the installed Noto fonts, not as empty boxes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import warnings

import pytest

from report.write.plots import style

# One short word per script: Tamil and Sinhala were drawn as boxes although their fonts were installed.
WORDS = {"Tamil": "தமிழ்", "Sinhala": "සිංහල", "Devanagari": "हिन्दी", "Bengali": "বাংলা", "Thai": "ภาษาไทย",
         "Arabic": "العربية", "Hebrew": "עברית", "Georgian": "ქართული", "Armenian": "Հայերեն", "Ethiopic": "አማርኛ",
         "Khmer": "ខ្មែរ", "Myanmar": "မြန်မာ", "Telugu": "తెలుగు", "Kannada": "ಕನ್ನಡ", "Malayalam": "മലയാളം",
         "Gujarati": "ગુજરાતી", "Gurmukhi": "ਪੰਜਾਬੀ", "Lao": "ລາວ"}


def _installed(script: str) -> bool:
    if not shutil.which("fc-list"):
        return False
    return bool(subprocess.run(["fc-list", f"Noto Sans {script}", "family"], capture_output=True, text=True,
                               check=False).stdout.strip())


@pytest.mark.parametrize("script", sorted(WORDS))
def test_script_is_drawn_without_missing_glyphs(script):
    if not _installed(script):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Noto Sans {script} is not installed on CI (install fonts-noto-core)")
        pytest.skip(f"Noto Sans {script} is not installed here (fonts-noto-core), so its glyphs cannot be drawn")
    assert f"Noto Sans {script}" in style.FONT_FAMILIES
    with style.style(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = style.figure(3, 1)
        ax = fig.add_subplot()
        ax.set_title(f"token ' {WORDS[script]}'")
        ax.annotate(WORDS[script], (0.5, 0.5))
        fig.savefig(io.BytesIO(), format="png")
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert not missing, missing


def test_finalize_keeps_the_fallbacks_only_where_a_text_needs_them():
    """Text the first family draws is narrowed to it (matplotlib looks up every fallback family per text);
    token strings it cannot draw keep the whole list and are drawn without missing glyphs."""
    if "Noto Sans CJK JP" not in style._font_families():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Noto Sans CJK is not installed on CI (install fonts-noto-cjk)")
        pytest.skip("Noto Sans CJK is not installed here (fonts-noto-cjk)")
    with style.style(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = style.figure(3, 2)
        numbers, tokens = fig.subplots(1, 2)
        numbers.plot([1, 2, 3], [1, 10, 100])
        numbers.set(yscale="log", xlabel="component", title="ascii only")
        tokens.bar([0, 1], [1, 2])
        tokens.set_xticks([0, 1], ["日本", "abc"])
        tokens.set_title("token ' 東京'")
        style.finalize(fig)
        fig.savefig(io.BytesIO(), format="png")
    primary = style._font_families()[0]
    assert numbers.title.get_fontfamily() == [primary] and numbers.xaxis.label.get_fontfamily() == [primary]
    assert all(t.get_fontfamily() == [primary] for t in numbers.get_yticklabels())
    assert len(tokens.title.get_fontfamily()) > 1
    cjk = [t for t in tokens.get_xticklabels() if t.get_text() == "日本"]
    assert cjk and len(cjk[0].get_fontfamily()) > 1
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert not missing, missing
