"""Verify a webhook from the workflow server: a receiver using only Python's standard library.

    WEBHOOK_SECRET=whsec_... python docs/examples/verify_webhook.py   # listens on :9000

Every delivery carries webhook-id, webhook-timestamp and webhook-signature headers (Standard
Webhooks). Verify the signature over the raw body before parsing it, refuse old timestamps,
and deduplicate by webhook-id: a message can arrive more than once (retries), never with
another id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE = 5 * 60  # seconds


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """True if the body was signed with `secret` (whsec_...) within the last 5 minutes."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit():
        return False
    if abs((now or time.time()) - int(timestamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # Several space-separated signatures may be sent ("v1,<sig> v1,<sig>") during a rotation.
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (
            part.partition(",") for part in headers.get("webhook-signature", "").split()
        )
    )


class Receiver(BaseHTTPRequestHandler):
    seen: set[str] = set()  # use your database in production: ids must survive restarts

    def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not verify(os.environ["WEBHOOK_SECRET"], headers, body):
            self.send_response(401)
            self.end_headers()
            return
        if headers["webhook-id"] not in self.seen:
            self.seen.add(headers["webhook-id"])
            event = json.loads(body)
            print(event["type"], event["data"].get("job", {}) and event["data"]["job"]["title"])
        self.send_response(204)  # any 2xx: delivered; anything else: retried later
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Receiver).serve_forever()
