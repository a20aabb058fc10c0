"""Standard Webhooks signatures (https://www.standardwebhooks.com).

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the key is the secret's part
after "whsec_", base64-decoded; the signature header is `v1,<base64 HMAC-SHA256>` (several,
space-separated, while a secret is being rotated).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, received: dict[str, str], body: bytes, now: int, tolerance: int = 300
) -> bool:
    """True if one of the signatures matches and the timestamp is within `tolerance` seconds."""
    try:
        message_id, timestamp = received["webhook-id"], int(received["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(
        hmac.compare_digest(expected, candidate)
        for candidate in received.get("webhook-signature", "").split()
    )
