"""Typed automation settings: each action's `check` reads its keys through these, so a value of
the wrong type is refused with INVALID_INPUT, never coerced, and returns its module's `Settings`
class (a TypedDict: the keys it takes and what `run` receives).

Here settings are what the domain keeps: references are row ids (the resolvers decode global
ids into them); Scope.get answers one out of the id columns' range NOT_FOUND, like a missing
one.
"""

from __future__ import annotations

from typing import Any, TypedDict, TypeVar

from tortoise.models import Model

from workflow import documents, validation
from workflow.errors import invalid
from workflow.scope import Scope

Settings = dict[str, Any]
M = TypeVar("M", bound=Model)


def field(key: str) -> str:
    return f"settings.{key}"


class Reminders(TypedDict, total=False):
    """Settings of the actions that send what the client must act on (SEND_ORGANIZER,
    CREATE_INVOICE): remind every remindEveryDays days, at most maxReminders times, while
    it waits; both or neither (see `reminders`)."""

    remindEveryDays: int
    maxReminders: int


def keys(settings_class: type[Any]) -> tuple[str, ...]:
    """The keys of an action's settings class (a TypedDict), in the order it declares them,
    the optional ones (those of a base such as Reminders) last."""
    optional = settings_class.__optional_keys__
    return tuple(sorted(settings_class.__annotations__, key=lambda key: key in optional))


def only(settings: Settings, action: str, keys: tuple[str, ...]) -> None:
    """Refuse keys the action does not take (a typo would otherwise be silently ignored)."""
    if unknown := set(settings) - set(keys):
        takes = f"takes {', '.join(keys)}" if keys else "takes no settings"
        raise invalid("settings", f"{action} {takes}; unknown: {', '.join(sorted(unknown))}")


def name(settings: Settings, key: str, max_length: int = validation.NAME_MAX) -> str:
    """A required single-line string."""
    value = settings.get(key)
    if value is None:
        raise invalid(field(key), f"{field(key)} is required")
    if not isinstance(value, str):
        raise invalid(field(key), f"{field(key)} must be a string")
    return validation.name(value, field(key), max_length)


def text(settings: Settings, key: str) -> str:
    """An optional multi-line string; absent or null: empty."""
    value = settings.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(field(key), f"{field(key)} must be a string")
    return validation.text(value, field(key))


def flag(settings: Settings, key: str) -> bool:
    """An optional boolean; absent or null: false."""
    value = settings.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(field(key), f"{field(key)} must be true or false")
    return value


def whole_number(settings: Settings, key: str, low: int, high: int) -> int | None:
    """An optional integer between low and high; absent or null: None."""
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(field(key), f"{field(key)} must be a whole number from {low} to {high}")
    return value


def reminders(settings: Settings) -> tuple[int, int] | None:
    """Optional remindEveryDays (days between reminders) and maxReminders (how many at most),
    both or neither; None for neither (absent or null)."""
    every = whole_number(settings, "remindEveryDays", *documents.REMIND_EVERY_DAYS)
    most = whole_number(settings, "maxReminders", *documents.MAX_REMINDERS)
    return documents.check_reminders(every, most, "settings.")


def choice(settings: Settings, key: str, choices: tuple[str, ...], default: str) -> str:
    value = settings.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or value not in choices:
        raise invalid(field(key), f"{field(key)} is one of {', '.join(choices)}")
    return value


def tags(settings: Settings, key: str) -> list[str]:
    """An optional list of tags; absent or null: none."""
    value = settings.get(key)
    if value is None:
        return []
    return validation.tags(strings(value, field(key), validation.TAGS_MAX), field(key))


def strings(value: Any, where: str, max_items: int) -> list[str]:
    """A list of at most max_items strings (no nulls, numbers or lists among them)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(where, f"{where} must be a list of strings")
    if len(value) > max_items:
        raise invalid(where, f"{where} has at most {max_items} items")
    return value


async def record(scope: Scope, settings: Settings, key: str, model: type[M]) -> M:
    """The firm's row that settings[key] names; it is required."""
    found = await optional_record(scope, settings, key, model)
    if found is None:
        raise invalid(field(key), f"{field(key)} is required")
    return found


async def optional_record(scope: Scope, settings: Settings, key: str, model: type[M]) -> M | None:
    """The firm's row that settings[key] names, or None if it is null or absent."""
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(field(key), f"{field(key)} must be a {model.__name__} id")
    return await scope.get(model, value, field=field(key))
