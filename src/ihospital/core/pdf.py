"""Drawing text documents with reportlab alone (prescription slips, test reports, consultation reports).

Chinese text is set in the Adobe CID font ``STSong-Light``, which every PDF reader carries, so no font file ships
with us and no system library is needed. Lines are wrapped by width, character by character, because Chinese
has no spaces to break at.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

FONT = "STSong-Light"


def font() -> str:
    """The CJK font's name, registered with reportlab on first use."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def wrap(text: str, size: float, width: float) -> list[str]:
    """Greedy wrapping by width, character by character; newlines are kept."""
    lines, line = [], ""
    for char in text:
        if char == "\n":
            lines.append(line)
            line = ""
            continue
        if pdfmetrics.stringWidth(line + char, FONT, size) > width and line:
            lines.append(line)
            line = char.lstrip()
        else:
            line += char
    if line:
        lines.append(line)
    return lines


class Writer:
    """Writes downwards from ``top`` between ``left`` and ``right``; ``y`` is the next baseline."""

    def __init__(self, pdf: canvas.Canvas, left: float, right: float, top: float):
        self.pdf, self.left, self.right, self.y = pdf, left, right, top

    def text(self, text: str, size: float = 9, *, indent: float = 0, gap: float = 1.35, width: float = 0):
        self.pdf.setFont(FONT, size)
        for line in wrap(text, size, (width or (self.right - self.left)) - indent):
            self.pdf.drawString(self.left + indent, self.y, line)
            self.y -= size * gap

    def centred(self, text: str, size: float):
        self.pdf.setFont(FONT, size)
        self.pdf.drawCentredString((self.left + self.right) / 2, self.y, text)
        self.y -= size * 1.5

    def rule(self):
        """A line between the text above and the text below."""
        self.pdf.setLineWidth(0.6)
        self.pdf.line(self.left, self.y + 7, self.right, self.y + 7)
        self.y -= 6


def pair(label: str, value: str) -> str:
    """"label: value", in the active language's punctuation."""
    return _("%(label)s: %(value)s") % {"label": label, "value": value}
