"""Codes read from a CSV file or a list, as ``(line number, code)`` rows.

Decoded line by line, so that errors name their line, and bounded in line
length, so that memory stays flat whatever the input.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

from couponsite.errors import InvalidInput

# Longer lines are refused: no CSV of codes has them, and it keeps memory flat.
MAX_LINE_BYTES = 64 * 1024

Rows = Iterator[tuple[int, str]]


def list_rows(items: Iterable[object]) -> Rows:
    """Item n of a list is line n."""
    for line, item in enumerate(items, start=1):
        if not isinstance(item, str):
            error = {"line": line, "value": repr(item), "reason": "not a string"}
            raise InvalidInput(f"Item {line} is not a string.", errors=[error])
        yield line, item.strip()


def csv_rows(stream: IO[bytes]) -> Rows:
    """(line number, trimmed first cell) of each non-blank row, header skipped.

    One code a row, in the first column (other columns are ignored); an
    optional first row ``code`` (any case) is a header; rows with nothing but
    blanks are skipped. The file must be UTF-8 (a byte order mark is allowed).
    """
    reader = csv.reader(_text_lines(stream))
    first = True
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            value = row[0].strip()
            if first and value.casefold() == "code":
                first = False
                continue
            first = False
            yield reader.line_num, value
    except csv.Error as error:
        raise _unreadable(f"The file is not a readable CSV (line {reader.line_num}): {error}.") from error


def _text_lines(stream: IO[bytes]) -> Iterator[str]:
    binary = stream if isinstance(stream, io.BufferedIOBase) else io.BufferedReader(_RawReader(stream))
    for number, raw in enumerate(iter(functools.partial(binary.readline, MAX_LINE_BYTES + 1), b""), start=1):
        if b"\x00" in raw:
            raise _unreadable(f"Line {number} holds NUL bytes: the file looks binary, not a CSV of codes.")
        if len(raw) > MAX_LINE_BYTES:
            raise _unreadable(f"Line {number} is longer than {MAX_LINE_BYTES:,} bytes: not a CSV of codes.")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _unreadable(f"Line {number} is not UTF-8 text.") from error
        yield line.removeprefix("\ufeff") if number == 1 else line


class _RawReader(io.RawIOBase):
    """A readable raw stream over any object with ``read(n)`` (an uploaded file)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _unreadable(detail: str) -> InvalidInput:
    return InvalidInput.field("file", detail)
