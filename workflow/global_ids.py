"""Global ids as clients see them: base64("Type:id"), unpadded, URL-safe.

Here, below the schema, because webhook payloads written by the domain carry them too.
"""

from __future__ import annotations

import base64


def global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).rstrip(b"=").decode()


def optional_global_id(type_name: str, pk: int | None) -> str | None:
    return None if pk is None else global_id(type_name, pk)
