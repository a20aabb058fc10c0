"""Input checks shared by the domain operations; each raises an INVALID_INPUT DomainError."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from workflow.errors import invalid

NAME_MAX = 200
DESCRIPTION_MAX = 10_000
TAG_MAX = 50
TAGS_MAX = 50
# An address as it is used unquoted in mail headers and SMTP commands: the local part's plain
# characters (RFC 5322 atext and dots) and a dotted host name. Nothing that a header would
# read as a second address, a display name or a comment (",", "<", "(", quotes, spaces).
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def _has_control_chars(value: str, allow_newlines: bool = False) -> bool:
    """Control characters, and lone surrogates (which no database can store)."""
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(unicodedata.category(c) in ("Cc", "Cs") and c not in allowed for c in value)


def name(value: str, field: str, max_length: int = NAME_MAX) -> str:
    """A trimmed, non-empty single-line name of at most `max_length` characters."""
    cleaned = value.strip()
    if not cleaned:
        raise invalid(field, f"{field} must not be empty")
    if len(cleaned) > max_length:
        raise invalid(field, f"{field} must be at most {max_length} characters")
    if _has_control_chars(cleaned):
        raise invalid(field, f"{field} must not contain control characters")
    return cleaned


def text(value: str, field: str, max_length: int = DESCRIPTION_MAX) -> str:
    if len(value) > max_length:
        raise invalid(field, f"{field} must be at most {max_length} characters")
    if _has_control_chars(value, allow_newlines=True):
        raise invalid(field, f"{field} must not contain control characters")
    return value


def email(value: str | None, field: str = "email") -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if len(cleaned) > 254 or not EMAIL_RE.match(cleaned) or _has_control_chars(cleaned):
        raise invalid(field, f"{field} is not a valid email address")
    return cleaned.lower()


def tags(values: Iterable[str], field: str = "tags") -> list[str]:
    """Trimmed, de-duplicated tags in the order given."""
    result: dict[str, None] = {}
    for value in values:
        result[name(value, field, TAG_MAX)] = None
        if len(result) > TAGS_MAX:
            raise invalid(field, f"at most {TAGS_MAX} tags")
    return list(result)


def search(value: str, field: str) -> list[str]:
    """The words of a search, each at most NAME_MAX characters."""
    if len(value) > 1000 or _has_control_chars(value):
        raise invalid(field, f"{field} must be at most 1000 characters, without control characters")
    return [word[:NAME_MAX] for word in value.split()[:10]]


def optional_positive(value: object, field: str, maximum: int = 100_000) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 1 <= value <= maximum:
        raise invalid(field, f"{field} must be between 1 and {maximum}")
    return value
