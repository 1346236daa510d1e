"""Code syntax, generation patterns and the keyspace rule (pure functions).

They sit with books because a book's pattern is checked by them; coupons
import them from here.
"""

from __future__ import annotations

import re

from couponsite.bounds import CODE_MAX_LENGTH
from couponsite.errors import InvalidInput

# The one definition of a code's syntax: the model's check constraint, the
# import's rejected-rows query and every look-up use these.
CODE_REGEX = rf"^[A-Za-z0-9_-]{{1,{CODE_MAX_LENGTH}}}$"
CODE_PATTERN_RE = re.compile(CODE_REGEX)
# Upper-case letters and digits without the look-alikes 0 O 1 I L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_CHAR = "#"
# Guessing must stay hopeless: a pattern must offer this many codes for each
# code of its shape the partner will hold (in any of its books: a look-up
# searches them all).
SPARSITY = 10_000


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
        raise InvalidInput.field("pattern", f"Invalid pattern: {problem}.")
    randoms = pattern.count(RANDOM_CHAR)
    if randoms == 0:
        raise InvalidInput.field("pattern", "A pattern needs at least one '#' (a random character).")
    return len(ALPHABET) ** randoms


def pattern_regex(pattern: str) -> str:
    """A regular expression (PostgreSQL's and Python's) for the codes
    ``pattern`` can produce; match it case-insensitively, as look-ups do."""
    parts = (f"[{ALPHABET}]" if char == RANDOM_CHAR else re.escape(char) for char in pattern)
    return "^" + "".join(parts) + "$"


def check_keyspace(*, pattern: str, codes_after: int) -> None:
    """Refuse a pattern that cannot hold ``codes_after`` codes of its shape sparsely."""
    keyspace = pattern_keyspace(pattern)
    if keyspace < SPARSITY * codes_after:
        detail = (
            f"Pattern {pattern!r} has {keyspace:,} possible codes, under {SPARSITY:,} x the "
            f"{codes_after:,} codes of that shape the partner would hold across its books; "
            "add more '#' characters."
        )
        raise InvalidInput.field("pattern", detail)


def holds_sparsely(*, pattern: str, codes_at_most: int) -> bool:
    """Whether ``pattern`` can hold ``codes_at_most`` codes sparsely: when it
    can, codes of its shape need not be counted."""
    return pattern_keyspace(pattern) >= SPARSITY * codes_at_most
