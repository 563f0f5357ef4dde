"""An accessible A4 page for the PDFs kel-flow prints (Gutschein, Zwischen-/Abschlussbericht).

What fpdf2 allows, used here (BITV 2.0 / PDF/UA in spirit):

* a Unicode TrueType font embedded as text (`api.dashboard.pdf_fonts`), never images;
* document language ``de-DE`` (``/Lang``), a title shown in the viewer's title bar
  (``/Title`` with ``DisplayDocTitle``), author and creator;
* bookmarks (the outline, ``start_section``) for every heading;
* a structure tree (tagged PDF, ``/MarkInfo``): headings as ``/H1``/``/H2``, every text
  block as ``/P`` in reading order; the running footer is marked as an artifact.

fpdf2 tags only its own section titles and images, as ``/Figure``; `tagged` uses its
marked-sequence helper (an internal of fpdf2 2.8, checked by the tests through the
structure types in the output) and names the structure type. A marked sequence must not
cross a page, so a long paragraph is split into one ``/P`` per page (`paragraph`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos
from fpdf.prefs import ViewerPreferences

from api.dashboard.pdf_fonts import add_fonts

LANG = "de-DE"
HEADING_SIZES = {1: 17.0, 2: 12.5}
"""Font size in pt of a heading of level 1 and 2."""


class TaggedPdf(FPDF):
    """A4 portrait, margins 20/18/20 mm, the Unicode font, a footer line with page
    numbers (an artifact), metadata and tagging as the module docstring says."""

    def __init__(self, *, title: str, footer: str, compress: bool = True) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.family = add_fonts(self)
        self.footer_text = footer
        self.set_compression(compress)
        self.set_lang(LANG)
        self.set_title(title)
        self.set_author("kel-flow")
        self.set_creator("kel-flow")
        self.viewer_preferences = ViewerPreferences(display_doc_title=True)
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(auto=True, margin=20)

    def footer(self) -> None:
        with self.artifact():
            self.set_y(-14)
            self.set_font(self.family, "", 8)
            self.cell(0, 5, f"{self.footer_text} – Seite {self.page_no()}/{{nb}}", align="C")

    @contextmanager
    def artifact(self) -> Iterator[None]:
        """Content that is not part of the text (running footer, rules)."""
        self._out("/Artifact BMC")
        yield
        self._out("EMC")

    @contextmanager
    def tagged(self, struct_type: str) -> Iterator[None]:
        """Everything drawn inside is one structure element `struct_type` (``/P``,
        ``/H1`` …); it must fit on the current page (see `keep`)."""
        with self._marked_sequence() as element:
            element.s = struct_type
            yield

    def keep(self, height: float) -> None:
        """Start a new page unless `height` mm still fit on this one."""
        if self.will_page_break(height):
            self.add_page()

    def heading(self, text: str, level: int = 2, *, align: str = "L") -> None:
        """A heading of `level` (1 or 2): a bookmark and a tagged ``/H1``/``/H2``."""
        size = HEADING_SIZES[level]
        height = size * 0.5
        self.set_font(self.family, "B", size)
        self.keep(height * 2 + 3)
        if level > 1:
            self.ln(3)
        self.start_section(text, level=level - 1, strict=False)
        with self.tagged(f"/H{level}"):
            self.multi_cell(0, height, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(
        self,
        text: str,
        *,
        size: float = 11,
        style: str = "",
        height: float = 5.5,
        border: str = "",
        align: str = "L",
        width: float = 0,
    ) -> None:
        """`text` as one ``/P`` per page it covers, wrapped to `width` mm (0: up to the
        right margin); `border` is drawn under its last part."""
        self.set_font(self.family, style, size)
        lines = self.wrapped(text, width, height)
        x = self.get_x()
        while lines:
            room = int((self.page_break_trigger - self.y - 1e-6) // height)
            if room < 1:
                self.add_page()
                self.set_x(x)
                continue
            part, lines = lines[:room], lines[room:]
            with self.tagged("/P"):
                self.multi_cell(
                    width,
                    height,
                    "\n".join(part),
                    border="" if lines else border,
                    align=align,
                    new_x=XPos.LMARGIN,
                    new_y=YPos.NEXT,
                )

    def labelled(self, label: str, value: str, *, width: float = 45, size: float = 10) -> None:
        """One line "label value" (label bold), tagged as one ``/P``."""
        self.set_font(self.family, "", size)
        rest = self.epw - width
        lines = self.wrapped(value, rest, 6)
        self.keep(6 * max(1, len(lines)))
        with self.tagged("/P"):
            self.set_font(self.family, "B", size)
            self.cell(width, 6, label)
            self.set_font(self.family, "", size)
            self.multi_cell(rest, 6, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def wrapped(self, text: str, width: float, height: float) -> list[str]:
        """`text` broken into the lines `multi_cell` would draw in `width` mm (current font)."""
        lines = self.multi_cell(width, height, text, dry_run=True, output=MethodReturnValue.LINES)
        assert isinstance(lines, list)
        return [str(line) for line in lines]

    def render(self) -> bytes:
        """The finished document."""
        return bytes(self.output())
