"""schema.firm_slots: the share of work each firm may have executing at once, as a unit (no
clock: each step is one turn of the event loop)."""

from __future__ import annotations

import asyncio

import pytest

from schema.firm_slots import FirmSlots


async def turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_firm_holds_at_most_its_capacity_others_are_not_held_back() -> None:
    slots = FirmSlots(100)
    await slots.acquire(1, 60)
    waiting = asyncio.create_task(slots.acquire(1, 60))  # 120 > 100: waits
    await turns()
    assert not waiting.done()
    await asyncio.wait_for(slots.acquire(2, 100), 1)  # another firm: at once
    slots.release(1, 60)
    await asyncio.wait_for(waiting, 1)
    assert slots.in_flight == {1: 60, 2: 100}
    slots.release(1, 60)
    slots.release(2, 100)
    assert slots.in_flight == {} and slots.waiting == {}


async def test_cheap_operations_run_together_and_one_over_capacity_runs_alone() -> None:
    slots = FirmSlots(100)
    for _ in range(10):
        await asyncio.wait_for(slots.acquire(1, 10), 1)
    assert slots.in_flight == {1: 100}
    for _ in range(10):
        slots.release(1, 10)
    await asyncio.wait_for(slots.acquire(1, 500), 1)  # alone, it runs whatever its cost
    slots.release(1, 500)
    assert slots.in_flight == {}


async def test_first_come_first_served_a_big_one_is_not_overtaken() -> None:
    slots = FirmSlots(100)
    await slots.acquire(1, 50)
    big = asyncio.create_task(slots.acquire(1, 100))
    await turns()
    small = asyncio.create_task(slots.acquire(1, 10))  # would fit, but comes after big
    await turns()
    assert not big.done() and not small.done()
    slots.release(1, 50)
    await asyncio.wait_for(big, 1)
    await turns()
    assert not small.done()
    slots.release(1, 100)
    await asyncio.wait_for(small, 1)
    slots.release(1, 10)
    assert slots.in_flight == {} and slots.waiting == {}


async def test_a_waiter_cancelled_gives_its_place_to_the_next() -> None:
    slots = FirmSlots(100)
    await slots.acquire(1, 100)
    first = asyncio.create_task(slots.acquire(1, 100))
    second = asyncio.create_task(slots.acquire(1, 100))
    await turns()
    first.cancel()  # e.g. its request timed out while it waited
    with pytest.raises(asyncio.CancelledError):
        await first
    slots.release(1, 100)
    await asyncio.wait_for(second, 1)
    assert slots.in_flight == {1: 100}
    slots.release(1, 100)
    assert slots.in_flight == {} and slots.waiting == {}


async def test_a_waiter_cancelled_as_it_was_granted_gives_the_slot_back() -> None:
    slots = FirmSlots(100)
    await slots.acquire(1, 100)
    waiter = asyncio.create_task(slots.acquire(1, 100))
    await turns()
    slots.release(1, 100)  # grants the waiter...
    waiter.cancel()  # ...which is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.in_flight == {} and slots.waiting == {}
