"""Code syntax, generation patterns and the keyspace rule (pure functions).

They sit with books because a book's pattern is checked by them; coupons
import them from here.
"""

from __future__ import annotations

import re
import string

from couponsite.bounds import CODE_MAX_LENGTH
from couponsite.errors import InvalidInput

# The one definition of a code's syntax: the model's check constraint, the
# import's rejected-rows query and every look-up use these.
CODE_REGEX = rf"^[A-Za-z0-9_-]{{1,{CODE_MAX_LENGTH}}}$"
CODE_PATTERN_RE = re.compile(CODE_REGEX)
# Upper-case letters and digits without the look-alikes 0 O 1 I L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
# What '#' draws from, by the name a book or a generation gives (``charset``);
# any other charset is its own alphabet.
CHARSETS = {
    "unambiguous": ALPHABET,
    "numeric": string.digits,
    "alphabetic": string.ascii_uppercase,
    "alphanumeric": string.digits + string.ascii_uppercase,
}
DEFAULT_CHARSET = "unambiguous"
CUSTOM_CHARSET_LENGTH = (10, 64)
# What ``charset_alphabet`` accepts, for the OpenAPI schema, all but "distinct
# in any case", which a regular expression cannot say.
CHARSET_REGEX = "^({}|[A-Za-z0-9_-]{{{},{}}})$".format("|".join(CHARSETS), *CUSTOM_CHARSET_LENGTH)
RANDOM_CHAR = "#"
# What ``pattern_keyspace`` accepts, for the OpenAPI schema: a code's
# characters and '#', at least one '#' (the length is the field's).
PATTERN_REGEX = rf"^[A-Za-z0-9_{RANDOM_CHAR}-]*{RANDOM_CHAR}[A-Za-z0-9_{RANDOM_CHAR}-]*$"
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


def charset_alphabet(charset: str) -> str:
    """The characters ``charset`` draws from: a name of ``CHARSETS``, or its
    own alphabet of 10 to 64 code characters, distinct in any case (codes
    match in any case, so ``a`` and ``A`` would be one character)."""
    if charset in CHARSETS:
        return CHARSETS[charset]
    shortest, longest = CUSTOM_CHARSET_LENGTH
    if not shortest <= len(charset) <= longest:
        problem = f"one of {', '.join(CHARSETS)}, or {shortest} to {longest} characters of its own"
    elif code_problem(charset):
        problem = "made of A-Z, a-z, 0-9, '-' and '_' only"
    elif len(set(charset.upper())) < len(charset):
        problem = "made of characters that differ in any case"
    else:
        return charset
    raise InvalidInput.field("charset", f"A charset must be {problem}.")


def pattern_keyspace(pattern: str, alphabet: str = ALPHABET) -> int:
    """How many distinct codes ``pattern`` can produce from ``alphabet``; raises on a bad pattern."""
    problem = code_problem(pattern.replace(RANDOM_CHAR, "A"))
    if problem:
        raise InvalidInput.field("pattern", f"Invalid pattern: {problem}.")
    randoms = pattern.count(RANDOM_CHAR)
    if randoms == 0:
        raise InvalidInput.field("pattern", "A pattern needs at least one '#' (a random character).")
    return len(alphabet) ** randoms


def pattern_regex(pattern: str, alphabet: str = ALPHABET) -> str:
    """A regular expression (PostgreSQL's and Python's) for the codes
    ``pattern`` can produce from ``alphabet``; match it case-insensitively, as look-ups do."""
    random = "[" + "".join(re.escape(char) for char in alphabet) + "]"
    parts = (random if char == RANDOM_CHAR else re.escape(char) for char in pattern)
    return "^" + "".join(parts) + "$"


def check_keyspace(*, pattern: str, alphabet: str = ALPHABET, codes_after: int) -> None:
    """Refuse a pattern that cannot hold ``codes_after`` codes of its shape sparsely."""
    keyspace = pattern_keyspace(pattern, alphabet)
    if keyspace < SPARSITY * codes_after:
        detail = (
            f"Pattern {pattern!r} has {keyspace:,} possible codes (from {len(alphabet)} characters), under "
            f"{SPARSITY:,} x the {codes_after:,} codes of that shape the partner would hold across its books; "
            "add more '#' characters."
        )
        raise InvalidInput.field("pattern", detail)


def holds_sparsely(*, pattern: str, alphabet: str = ALPHABET, codes_at_most: int) -> bool:
    """Whether ``pattern`` can hold ``codes_at_most`` codes sparsely: when it
    can, codes of its shape need not be counted."""
    return pattern_keyspace(pattern, alphabet) >= SPARSITY * codes_at_most
