"""CSV files for people: cells safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read as a formula by spreadsheet programs; partner metadata, user ids and
codes are outside data, so such a cell gets a leading single quote (OWASP's
advice for CSV injection). Codes may start with '-': such a code is written
as ``'-CODE``.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
