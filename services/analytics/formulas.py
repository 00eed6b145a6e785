"""Text cells a spreadsheet would run as a formula, made plain text (OWASP: CSV injection).

Excel, LibreOffice and Google Sheets start a formula at `=`, `+`, `-` or `@`. Some skip
spaces and quotes before looking, some read the full-width forms (U+FF1D, U+FF0B, U+FF0D,
U+FF20) as the ASCII ones, and a leading tab or line break can start a cell of its own.
So a cell is neutralised when it starts with a tab, CR or LF, or when its first character
that is not whitespace, invisible or a quote mark is one of the four, in any width. A
single quote in front makes every spreadsheet show the rest as text.

Numbers are not text: the writer leaves non-string cells (attempts, -2.5) alone, and a
cell that is exactly an E.164 number stays bare, since `+` and digits compute nothing
worth fearing and the original file gave phone numbers bare.
"""

from __future__ import annotations

import unicodedata

from services.analytics.results_contract import is_e164

TRIGGERS = frozenset("=+-@")
LINE_STARTS = ("\t", "\r", "\n")
QUOTE_MARKS = frozenset("'\"\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\uff02\uff07")
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})  # controls, format, spaces


def would_run(text: str) -> bool:
    """True when a spreadsheet could read the cell as a formula."""
    if not text or text[0].isalnum():
        return False  # the common case, decided by one character
    if text.startswith(LINE_STARTS):
        return True
    first = next((char for char in text if not _skipped(char)), "")
    # NFKC folds the full-width and the small forms (U+FE66 and on) into the ASCII ones.
    return unicodedata.normalize("NFKC", first) in TRIGGERS


def _skipped(char: str) -> bool:
    return char in QUOTE_MARKS or unicodedata.category(char) in INVISIBLE_CATEGORIES


def neutralise_cell(text: str) -> str:
    """The cell as it is, or with a quote in front when a spreadsheet would run it."""
    if would_run(text) and not is_e164(text):
        return f"'{text}"
    return text
