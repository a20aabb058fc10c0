"""Feed cursors: where a subscriber of a board or a job stands in its feed, sealed so that a
position (how busy a feed is) is for its firm's eyes only."""

from __future__ import annotations

import re

from models import keys
from realtime.hub import FeedKey
from workflow.errors import invalid

POSITION_RE = re.compile(r"^[0-9]{1,18}$")
FEED_CURSOR = b"feed-cursor"


def encode_feed_cursor(key: FeedKey, position: int) -> str:
    """The cursor of a position in a feed."""
    return keys.seal(f"{key.kind}:{key.id}:{position}".encode(), FEED_CURSOR)


def decode_feed_cursor(cursor: str | None, key: FeedKey) -> int | None:
    """The position in this feed that a cursor names; a cursor of another feed is refused."""
    if cursor is None:
        return None
    raw = keys.unseal(cursor, FEED_CURSOR) if len(cursor) <= 200 else None
    try:
        kind, feed_id, position = (raw or b"").decode().split(":")
        if (kind, feed_id) == (key.kind, str(key.id)) and POSITION_RE.match(position):
            return int(position)
    except ValueError:
        pass
    raise invalid("after", "after is not a cursor of this subscription")
