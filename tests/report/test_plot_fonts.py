"""Figures draw the scripts of multilingual vocabularies with the installed Noto fonts, not as empty boxes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import warnings

import pytest

from report.plots import style

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
