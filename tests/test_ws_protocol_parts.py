"""The parts of our uvicorn websocket protocol (web.protocol) that stand in for what uvicorn and
websockets would use: the text frames written directly are websockets' bytes, the receive
inbox and the writable gate behave as the asyncio Queue and Event they replace."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode

from web.protocol import Gate, Inbox, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_is_what_websockets_writes(size: int) -> None:
    data = ("é" * size).encode()[:size]
    expected = Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    assert text_frame(data) == expected


async def test_inbox_hands_items_in_order_and_wakes_its_reader() -> None:
    inbox = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    reading = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reading.done()
    inbox.put_nowait(3)
    assert await reading == 3


async def test_inbox_reader_cancelled_while_waiting_leaves_later_items() -> None:
    inbox = Inbox()
    reading = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    inbox.put_nowait("after")
    assert await inbox.get() == "after"


async def test_gate_waits_only_while_cleared() -> None:
    gate = Gate(True)
    assert await gate.wait()  # at once
    gate.clear()
    assert not gate.is_set()
    waiters = [asyncio.ensure_future(gate.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    gate.set()
    assert await asyncio.gather(*waiters) == [True, True]
    assert gate.is_set() and gate.waiters is None
