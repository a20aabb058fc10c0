"""Ranks: a key fits between any two keys, order is kept, and renumbering spreads evenly."""

from __future__ import annotations

import random

import pytest

from workflow import ranking


def test_between_fits_anywhere_and_keeps_order() -> None:
    rng = random.Random(7)
    keys = [ranking.between(None, None)]
    for _ in range(2000):
        index = rng.randrange(len(keys) + 1)
        low = keys[index - 1] if index else None
        high = keys[index] if index < len(keys) else None
        key = ranking.between(low, high)
        assert (low or "") < key and (high is None or key < high)
        assert not key.endswith("0") and set(key) <= set(ranking.DIGITS)
        keys.insert(index, key)
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_many_placements_between_the_same_neighbours() -> None:
    low, high = "a", "b"
    for _ in range(1000):
        high = ranking.between(low, high)
        assert low < high
    assert len(high) > ranking.REBALANCE_LENGTH  # why the stage is renumbered past this


def test_between_refuses_reversed_bounds() -> None:
    with pytest.raises(ValueError, match="not below"):
        ranking.between("b", "a")


@pytest.mark.parametrize("count", [1, 2, 35, 36, 1000, 5000])
def test_spread_gives_increasing_short_keys(count: int) -> None:
    keys = ranking.spread(count)
    assert len(keys) == count and keys == sorted(keys) and len(set(keys)) == count
    assert not any(k.endswith("0") or not k for k in keys)
    assert max(map(len, keys)) <= 4
