"""The Unicode font of every PDF kel-flow prints (Gutschein, Zwischen-/Abschlussbericht).

Source Sans Pro (SIL Open Font License 1.1) as TrueType, from the PyPI package
``font-source-sans-pro`` (a dependency in ``pyproject.toml``): it has the Latin letters of
the names a jobcenter meets ("Yılmaz", "Łukasiewicz", "Doğan", "Şahin"), „“, – and €.
fpdf2 embeds a subset of the glyphs actually used, with a ToUnicode map, so the text is
text: it can be searched, copied and read aloud by a screen reader.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fpdf import FPDF

FAMILY = "SourceSans"
"""The font family name to pass to ``FPDF.set_font``."""

PACKAGE = "font_source_sans_pro"
FILES = {
    "": "SourceSansPro-Regular.ttf",
    "B": "SourceSansPro-Bold.ttf",
    "I": "SourceSansPro-It.ttf",
}
"""fpdf2 style (``""`` regular, ``"B"`` bold, ``"I"`` italic) -> TrueType file of the
package."""


def font_file(style: str = "") -> Path:
    """The path of the TrueType file for `style` (``""``, ``"B"`` or ``"I"``).

    Raises `KeyError` for another style and `FileNotFoundError` when the package is not
    installed as files on disk (e.g. run from a zip)."""
    path = Path(str(resources.files(PACKAGE).joinpath("files", FILES[style])))
    if not path.is_file():
        raise FileNotFoundError(f"Schriftdatei fehlt: {path} (Paket font-source-sans-pro)")
    return path


def add_fonts(pdf: FPDF) -> str:
    """Register the regular, bold and italic styles with `pdf`; returns the family name
    (`FAMILY`) for ``pdf.set_font(FAMILY, style, size)``."""
    for style in FILES:
        pdf.add_font(FAMILY, style, str(font_file(style)))
    return FAMILY
