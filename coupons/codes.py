"""Code syntax, generation patterns and the keyspace rule (pure functions)."""

from __future__ import annotations

import re
import secrets

from couponsite.errors import InvalidInput

CODE_PATTERN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
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
    if len(code) > 64:
        return "longer than 64 characters"
    if not CODE_PATTERN_RE.match(code):
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
