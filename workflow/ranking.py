"""Ranks: strings whose lexicographic order is a job's order within its stage.

A key strictly between any two keys always exists (fractional indexing over base 36), so a
drag-and-drop writes one row. Keys use only [0-9a-z], whose byte order is also the collation
order of common PostgreSQL locales, and never end in "0", so there is always room before a key.
"""

from __future__ import annotations

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
# Past this length a stage is renumbered (rare: about five placements per character between
# the same two neighbours).
REBALANCE_LENGTH = 120


def between(before: str | None, after: str | None) -> str:
    """A key greater than `before` and less than `after`; None means the open end."""
    low = before or ""
    if after is not None and not low < after:
        raise ValueError(f"rank {low!r} is not below {after!r}")
    return _midpoint(low, after)


def _midpoint(low: str, high: str | None) -> str:
    if high is not None:
        common = 0
        while common < len(high) and (low[common] if common < len(low) else "0") == high[common]:
            common += 1
        if common:
            return high[:common] + _midpoint(low[common:], high[common:])
    digit_low = DIGITS.index(low[0]) if low else 0
    digit_high = DIGITS.index(high[0]) if high is not None else BASE
    if digit_high - digit_low > 1:
        return DIGITS[(digit_low + digit_high) // 2]
    if high is not None and len(high) > 1:
        return high[0]
    return DIGITS[digit_low] + _midpoint(low[1:], None)


def many(before: str | None, after: str | None, count: int) -> list[str]:
    """`count` increasing keys between `before` and `after`, by halving the gap: a bulk call
    places its jobs with keys a few characters longer than their neighbours, not one longer
    per job as `between` the last key each time would give."""
    if count <= 0:
        return []
    middle = between(before, after)
    lower = (count - 1) // 2
    return [*many(before, middle, lower), middle, *many(middle, after, count - 1 - lower)]


def spread(count: int) -> list[str]:
    """`count` increasing keys spaced evenly, for renumbering a stage."""
    width = 1
    while BASE**width <= count * 2:
        width += 1
    step = BASE**width // (count + 1)
    keys = []
    for index in range(1, count + 1):
        value, digits = step * index, []
        for _ in range(width):
            value, digit = divmod(value, BASE)
            digits.append(DIGITS[digit])
        keys.append("".join(reversed(digits)).rstrip("0"))
    return keys
