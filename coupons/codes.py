"""Code syntax, generation patterns and the keyspace rule (pure functions)."""

from __future__ import annotations

import re
import secrets
import struct
from collections.abc import Sequence

from couponsite.errors import InvalidInput

# The one definition of a code's syntax: the model's check constraint, the
# import's rejected-rows query and every look-up use these.
CODE_MAX_LENGTH = 64
CODE_REGEX = rf"^[A-Za-z0-9_-]{{1,{CODE_MAX_LENGTH}}}$"
CODE_PATTERN_RE = re.compile(CODE_REGEX)
# Upper-case letters and digits without the look-alikes 0 O 1 I L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_CHAR = "#"
# Guessing must stay hopeless: a pattern must offer this many codes for each
# code the book will hold.
SPARSITY = 10_000
SORT_KEY_MAX = 2**63 - 1


def code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid code, or None."""
    if not code:
        return "empty"
    if len(code) > CODE_MAX_LENGTH:
        return f"longer than {CODE_MAX_LENGTH} characters"
    # fullmatch: with match, "$" would accept a trailing newline.
    if not CODE_PATTERN_RE.fullmatch(code):
        return "only A-Z, a-z, 0-9, '-' and '_' are allowed"
    return None


def pattern_keyspace(pattern: str) -> int:
    """How many distinct codes ``pattern`` can produce; raises on a bad pattern."""
    problem = code_problem(pattern.replace(RANDOM_CHAR, "A"))
    if problem:
        raise InvalidInput(
            f"Invalid pattern: {problem}", errors=[{"field": "pattern", "detail": f"Invalid pattern: {problem}."}]
        )
    randoms = pattern.count(RANDOM_CHAR)
    if randoms == 0:
        raise InvalidInput(
            "A pattern needs at least one '#'",
            errors=[{"field": "pattern", "detail": "A pattern needs at least one '#' (a random character)."}],
        )
    return len(ALPHABET) ** randoms


def check_keyspace(*, pattern: str, codes_after: int) -> None:
    """Refuse a pattern that cannot hold ``codes_after`` codes sparsely."""
    keyspace = pattern_keyspace(pattern)
    if keyspace < SPARSITY * codes_after:
        detail = (
            f"Pattern {pattern!r} has {keyspace:,} possible codes, under {SPARSITY:,} x the "
            f"{codes_after:,} codes the book would hold; add more '#' characters."
        )
        raise InvalidInput(detail, errors=[{"field": "pattern", "detail": detail}])


def random_sort_key() -> int:
    return secrets.randbelow(SORT_KEY_MAX + 1)


# Bulk generation. A CSPRNG call per character (secrets.choice) makes about
# 84,000 codes a second, slower than PostgreSQL takes them; random bytes drawn in
# bulk and mapped in C make well over a million (DESIGN.md).

# 248 = 8 x 31: bytes below it map evenly onto the alphabet; the top 8 are
# dropped, so that every character stays exactly as likely as any other.
_ACCEPTED_BYTES = 256 - 256 % len(ALPHABET)
_BYTE_TO_CHAR = bytes(ord(ALPHABET[b % len(ALPHABET)]) for b in range(256))
_REJECTED_BYTES = bytes(range(_ACCEPTED_BYTES, 256))


def random_chars(count: int) -> bytes:
    """``count`` characters of the alphabet, each uniform and independent."""
    chars = bytearray()
    while len(chars) < count:
        missing = count - len(chars)
        # About 3 % are rejected; draw a little more so one round nearly always suffices.
        chars += secrets.token_bytes(missing + missing // 16 + 16).translate(_BYTE_TO_CHAR, _REJECTED_BYTES)
    del chars[count:]
    return bytes(chars)


def random_sort_keys(count: int, *, above: int) -> list[int]:
    """``count`` sort keys, each uniform in ``(above, SORT_KEY_MAX]``.

    Rejection sampling on the smallest power of two covering the range keeps
    the keys exactly uniform (a modulo would favour the low end).
    """
    width = SORT_KEY_MAX - above
    if not 1 <= width <= SORT_KEY_MAX + 1:
        raise ValueError(f"no sort key above {above}")
    mask = (1 << (width - 1).bit_length()) - 1
    offsets: list[int] = []
    while len(offsets) < count:
        missing = count - len(offsets)
        # At least half the draws are accepted.
        draws = 2 * missing + 16
        raw = struct.unpack(f">{draws}Q", secrets.token_bytes(8 * draws))
        offsets.extend(offset for value in raw if (offset := value & mask) < width)
    base = above + 1
    return [base + offset for offset in offsets[:count]]


def random_code_rows(pattern: str, sort_keys: Sequence[int]) -> bytes:
    """One row per sort key in PostgreSQL's COPY text format: a new random code
    of ``pattern``, a tab, the key.

    Every row is built from one template and each column of random characters
    (and of key digits) is written with a single strided slice assignment, so
    the work per code happens in C.
    """
    count = len(sort_keys)
    key_digits = len(str(SORT_KEY_MAX))
    template = f"{pattern}\t{'0' * key_digits}\n".encode()
    width = len(template)
    rows = bytearray(template * count)
    positions = [i for i, char in enumerate(pattern) if char == RANDOM_CHAR]
    chars = random_chars(count * len(positions))
    for n, position in enumerate(positions):
        rows[position::width] = chars[n * count : (n + 1) * count]
    # Zero-padded to a fixed width, which bigint input accepts.
    digits = "".join([f"{key:0{key_digits}d}" for key in sort_keys]).encode()
    key_start = len(pattern) + 1
    for n in range(key_digits):
        rows[key_start + n :: width] = digits[n::key_digits]
    return bytes(rows)
