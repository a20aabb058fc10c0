"""Custom fields: definitions (create, change, delete) and the values jobs and clients keep.

A definition belongs to one firm and one entity (JOB or CLIENT); its key is the immutable name
its values are stored under (in the custom_fields JSON column of the job or client row), its
label what people read. The rules, documented in docs/api.md (Custom fields):

- Keys match KEY_RE; at most FIELDS_MAX definitions per entity and firm; a SELECT has 1 to
  OPTIONS_MAX distinct options of at most OPTION_MAX characters, the other types none.
- Values, refused rather than coerced: TEXT a string of at most TEXT_MAX characters (blank is
  unset); NUMBER a JSON number, finite, at most NUMBER_MAX in size, kept as given (an integer
  stays one); DATE a `YYYY-MM-DD` string; BOOLEAN true or false; SELECT one of the options.
  Null, or leaving the key out, is unset; only known keys are stored.
- Writing values is a merge: the keys given replace (null clears), the others stay. A required
  field must be given when the job or client is created, and cannot be cleared; rows made
  before it became required keep lacking it until someone sets it.
- The type is fixed once created (delete and create again); a SELECT option still used by a
  stored value cannot be removed (the refusal says how many use it); the label and `required`
  change freely, and renaming keeps the values (they are stored by key).
- Deleting a definition removes its key from every stored value of the firm in the same change,
  one statement per table, without new versions or events of the jobs (nothing the user wrote
  on them changed but the removed field).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from tortoise.expressions import RawSQL
from tortoise.queryset import QuerySet

from models import Client, CustomField, CustomFieldEntity, CustomFieldType, Job, sql
from models.db import is_postgres
from workflow import validation
from workflow.errors import DomainError, invalid
from workflow.scope import Scope
from workflow.unit import change

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIELDS_MAX = 50  # per entity and firm
OPTIONS_MAX = 100
OPTION_MAX = 100
TEXT_MAX = 1_000
NUMBER_MAX = 1e15  # amounts to the cent stay exact in a float below it
FILTERS_MAX = 10
CONDITION_VALUES_MAX = 50
FIELD = "customFields"
TABLES: dict[CustomFieldEntity, type[Job] | type[Client]] = {
    CustomFieldEntity.JOB: Job,
    CustomFieldEntity.CLIENT: Client,
}


def _shown(key: str) -> str:
    """A key as an error names it: a client's unknown key is cut, not echoed whole."""
    return key if len(key) <= 50 else key[:50] + "…"


# Definitions --------------------------------------------------------------------------------


async def definitions(firm_id: int, entity: CustomFieldEntity) -> dict[str, CustomField]:
    """The firm's definitions of an entity by key, in position order (one statement)."""
    rows = await sql.fetch(
        'SELECT * FROM "custom_field" WHERE "firm_id" = ? AND "entity" = ? '
        'ORDER BY "position", "id"',
        [firm_id, entity.value],
    )
    return {row["key"]: CustomField._init_from_db(**row) for row in rows}


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise invalid(
            "key",
            "key must be 1 to 40 characters: a lower-case letter, then lower-case letters, "
            "digits or _",
        )
    return key


def check_options(type_: CustomFieldType, options: list[str] | None) -> list[str]:
    if type_ != CustomFieldType.SELECT:
        if options:
            raise invalid("options", "only a SELECT field has options")
        return []
    if not options:
        raise invalid("options", "a SELECT field needs at least one option")
    if len(options) > OPTIONS_MAX:
        raise invalid("options", f"a SELECT field has at most {OPTIONS_MAX} options")
    checked = [validation.name(option, "options", OPTION_MAX) for option in options]
    if len(set(checked)) != len(checked):
        raise invalid("options", "options must be distinct")
    return checked


async def create_custom_field(
    scope: Scope,
    entity: CustomFieldEntity,
    key: str,
    label: str,
    type_: CustomFieldType,
    *,
    options: list[str] | None = None,
    required: bool = False,
) -> CustomField:
    """A new definition, last among its entity's."""
    clean_key = check_key(key)
    clean_label = validation.name(label, "label")
    clean_options = check_options(type_, options)
    async with change(scope):
        # the firm's row, locked: the count and the key hold under concurrent creates
        await sql.fetch('SELECT "id" FROM "firm" WHERE "id" = ? FOR UPDATE', [scope.firm_id])
        existing = await definitions(scope.firm_id, entity)
        if clean_key in existing:
            raise invalid("key", f"a {entity} custom field with the key {clean_key!r} exists")
        if len(existing) >= FIELDS_MAX:
            raise invalid("entity", f"a firm has at most {FIELDS_MAX} {entity} custom fields")
        return await CustomField.create(
            firm_id=scope.firm_id,
            entity=entity,
            key=clean_key,
            label=clean_label,
            type=type_,
            options=clean_options,
            required=required,
            position=max((f.position for f in existing.values()), default=-1) + 1,
        )


async def _count_with_value(definition: CustomField, value: Any) -> int:
    """How many of the firm's rows of the definition's entity hold this value."""
    table = TABLES[definition.entity]._meta.db_table
    condition, params = _equals_sql(definition.key, value)
    rows = await sql.fetch(
        f'SELECT COUNT(*) AS n FROM "{table}" WHERE "firm_id" = ? AND {condition}',
        [definition.firm_id, *params],
    )
    return int(rows[0]["n"])


async def update_custom_field(
    scope: Scope,
    field_id: int,
    *,
    label: str | None = None,
    options: list[str] | None = None,
    required: bool | None = None,
) -> CustomField:
    """Change what is given: the label (values stay: they are stored by key), a SELECT's
    options (one still in use cannot go), whether it is required."""
    clean_label = None if label is None else validation.name(label, "label")
    async with change(scope):
        definition = await scope.get(CustomField, field_id, field="id", lock=True)
        updated: list[str] = []
        if clean_label is not None:
            definition.label = clean_label
            updated.append("label")
        if options is not None:
            clean_options = check_options(definition.type, options)
            for removed in [o for o in definition.options if o not in clean_options]:
                if used := await _count_with_value(definition, removed):
                    raise invalid(
                        "options",
                        f"{used} {definition.entity.lower()}(s) have {removed!r} in "
                        f"{definition.key}: change their values before removing the option",
                    )
            definition.options = clean_options
            updated.append("options")
        if required is not None:
            definition.required = required
            updated.append("required")
        if updated:
            await definition.save(update_fields=[*updated, "updated_at"])
    return definition


async def delete_custom_field(scope: Scope, field_id: int) -> None:
    """Delete a definition and, in the same change, its key from every stored value of the
    firm's rows of its entity (one statement)."""
    async with change(scope):
        definition = await scope.get(CustomField, field_id, field="id", lock=True)
        table = TABLES[definition.entity]._meta.db_table
        if is_postgres():  # jsonb_exists: the ? operator would read as a placeholder
            await sql.execute(
                f'UPDATE "{table}" SET "custom_fields" = "custom_fields" - ? '
                'WHERE "firm_id" = ? AND jsonb_exists("custom_fields", ?)',
                [definition.key, scope.firm_id, definition.key],
            )
        else:
            path = f"$.{definition.key}"  # keys are [a-z0-9_]: a plain JSON path
            await sql.execute(
                f'UPDATE "{table}" SET "custom_fields" = json_remove("custom_fields", ?) '
                'WHERE "firm_id" = ? AND json_type("custom_fields", ?) IS NOT NULL',
                [path, scope.firm_id, path],
            )
        await definition.delete()


# Values -------------------------------------------------------------------------------------


def check_value(definition: CustomField, value: Any, field: str) -> Any:
    """A value of the definition's type (None: unset), refused rather than coerced."""
    if value is None:
        return None
    kind, key = definition.type, definition.key
    if kind in (CustomFieldType.TEXT, CustomFieldType.SELECT, CustomFieldType.DATE):
        if not isinstance(value, str):
            raise invalid(field, f"{key} is a {kind} field: give a string")
    if kind == CustomFieldType.TEXT:
        if len(value) > TEXT_MAX:
            raise invalid(field, f"{key} must be at most {TEXT_MAX} characters")
        text = validation.text(value, field, TEXT_MAX)
        return text if text.strip() else None
    if kind == CustomFieldType.SELECT:
        if value not in definition.options:
            raise invalid(
                field, f"{key} must be one of its options: " + ", ".join(definition.options)
            )
        return value
    if kind == CustomFieldType.DATE:
        try:
            if not DATE_RE.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise invalid(field, f"{key} is a DATE field: give a YYYY-MM-DD date") from None
        return value
    if kind == CustomFieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise invalid(field, f"{key} is a BOOLEAN field: give true or false")
        return value
    # NUMBER
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(field, f"{key} is a NUMBER field: give a number")
    # abs first: an integer too large for a float would fail math.isfinite
    if abs(value) > NUMBER_MAX or not math.isfinite(value):
        raise invalid(field, f"{key} must be a finite number of at most {NUMBER_MAX:.0e}")
    return value


def merge_values(
    defined: dict[str, CustomField],
    current: dict[str, Any],
    given: Any,
    *,
    creating: bool,
) -> dict[str, Any]:
    """The values after writing `given` over `current` (see the module): only known keys,
    each checked; INVALID_INPUT on customFields.<key> otherwise."""
    if not isinstance(given, dict):
        raise invalid(FIELD, f"{FIELD} must be an object of values by key")
    if len(given) > FIELDS_MAX:
        raise invalid(FIELD, f"{FIELD} has at most {FIELDS_MAX} keys")
    merged = {key: value for key, value in current.items() if key in defined}
    for key, value in given.items():
        where = f"{FIELD}.{_shown(str(key))}"
        definition = defined.get(key)
        if definition is None:
            raise invalid(where, f"there is no custom field {_shown(str(key))!r}")
        checked = check_value(definition, value, where)
        if checked is None:
            if definition.required:
                raise invalid(
                    where, f"{key} is required" + ("" if creating else ": it cannot be cleared")
                )
            merged.pop(key, None)
        else:
            merged[key] = checked
    if creating:
        for key, definition in defined.items():
            if definition.required and key not in merged:
                raise invalid(f"{FIELD}.{key}", f"{key} is required")
    return merged


async def values_for(
    scope: Scope,
    entity: CustomFieldEntity,
    current: dict[str, Any],
    given: Any,
    *,
    creating: bool,
) -> dict[str, Any]:
    """The values a job or client will hold: `given` (None: nothing given) merged over
    `current`, checked against the firm's definitions (read only when needed: a create
    without values reads them to see which are required)."""
    if given is None and not creating:
        return current
    defined = await definitions(scope.firm_id, entity)
    if given is None and not any(d.required for d in defined.values()):
        return current
    return merge_values(defined, current, given or {}, creating=creating)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The values that changed, each {"from", "to"} (null: unset), for an event's changes."""
    return {
        key: {"from": before.get(key), "to": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }


# The job filter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldFilter:
    """One condition of JobFilter.customFields: equality, or a range (NUMBER and DATE)."""

    key: str
    equals: Any = None
    min: Any = None
    max: Any = None


FILTER_FIELD = "filter.customFields"


def _literal(text: str) -> str:
    """An SQL string literal (both databases: standard strings, quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _equals_sql(key: str, value: Any) -> tuple[str, list[Any]]:
    """A condition (with ? parameters) that the row's value of `key` equals `value`."""
    if is_postgres():  # containment: what the GIN index of migration 0017 answers
        return '"custom_fields" @> ?::jsonb', [orjson.dumps({key: value}).decode()]
    path = f"$.{key}"
    if isinstance(value, bool):  # json_extract answers 1 and 0 for true and false
        return 'json_type("custom_fields", ?) = ?', [path, "true" if value else "false"]
    return 'json_extract("custom_fields", ?) = ?', [path, value]


def _range_sql(definition: CustomField, low: Any, high: Any) -> str:
    """A condition that the row's value of the field lies in [low, high] (either may be None),
    with the bounds written in: values checked by type (numbers, YYYY-MM-DD), so safe."""
    key = definition.key
    number = definition.type == CustomFieldType.NUMBER
    if is_postgres():
        kind = "number" if number else "string"
        value = (
            f"(\"custom_fields\"->>'{key}')::numeric"
            if number
            else f"(\"custom_fields\"->>'{key}')"
        )
        # the type test first: another firm's field of that key may hold another type
        parts = [f"jsonb_typeof(\"custom_fields\"->'{key}') = '{kind}'"]
    else:
        value = f"json_extract(\"custom_fields\", '$.{key}')"
        kinds = "('integer', 'real')" if number else "('text')"
        parts = [f"json_type(\"custom_fields\", '$.{key}') IN {kinds}"]
    for bound, operator in ((low, ">="), (high, "<=")):
        if bound is not None:
            literal = repr(bound) if number else _literal(bound)
            parts.append(f"{value} {operator} {literal}")
    inner = " AND ".join(parts[1:])
    # 1 or 0, tested = 1 in both databases; the cast inside is reached only for values of
    # the field's type (PostgreSQL does not promise the order of AND's operands)
    return f"CASE WHEN {parts[0]} THEN CASE WHEN {inner} THEN 1 ELSE 0 END ELSE 0 END"


async def job_filter(scope: Scope, queryset: QuerySet[Job], filters: list[FieldFilter]) -> Any:
    """The jobs of `queryset` whose custom fields meet every filter (one statement to read the
    definitions; INVALID_INPUT on filter.customFields for an unknown key, a value of the
    wrong type, or a range on a field that has none)."""
    if len(filters) > FILTERS_MAX:
        raise invalid(FILTER_FIELD, f"at most {FILTERS_MAX} custom field filters")
    if not filters:
        return queryset
    defined = await definitions(scope.firm_id, CustomFieldEntity.JOB)
    for number, wanted in enumerate(filters):
        definition = defined.get(wanted.key)
        if definition is None:
            raise invalid(FILTER_FIELD, f"there is no job custom field {_shown(wanted.key)!r}")
        try:
            equals = check_value(definition, wanted.equals, FILTER_FIELD)
            low = check_value(definition, wanted.min, FILTER_FIELD)
            high = check_value(definition, wanted.max, FILTER_FIELD)
        except DomainError as error:
            raise invalid(FILTER_FIELD, f"filter on {wanted.key}: {error.message}") from None
        if equals is None and low is None and high is None:
            raise invalid(FILTER_FIELD, f"filter on {wanted.key}: give equals, min or max")
        if (low is not None or high is not None) and definition.type not in (
            CustomFieldType.NUMBER,
            CustomFieldType.DATE,
        ):
            raise invalid(
                FILTER_FIELD, f"filter on {wanted.key}: ranges are for NUMBER and DATE fields"
            )
        if equals is not None:
            if is_postgres():
                queryset = queryset.filter(custom_fields__contains={definition.key: equals})
            else:
                condition, params = _equals_sql(definition.key, equals)
                inline = condition.replace("?", "{}").format(
                    *(_literal(p) if isinstance(p, str) else repr(p) for p in params)
                )
                queryset = queryset.annotate(**{f"cf{number}e": RawSQL(f"({inline})")}).filter(
                    **{f"cf{number}e": 1}
                )
        if low is not None or high is not None:
            name = f"cf{number}r"
            queryset = queryset.annotate(**{name: RawSQL(f"({_range_sql(definition, low, high)})")})
            queryset = queryset.filter(**{name: 1})
    return queryset


# Automation conditions ----------------------------------------------------------------------


def _addressed(name: str) -> tuple[CustomFieldEntity, str]:
    """A condition's key: `KEY` the job's field, `client.KEY` the job's client's."""
    if name.startswith("client."):
        return CustomFieldEntity.CLIENT, name.removeprefix("client.")
    return CustomFieldEntity.JOB, name


async def check_conditions(scope: Scope, given: Any, field: str) -> dict[str, list[Any]]:
    """The customFields condition, checked against the definitions when the automation is
    saved: an object of `KEY` (the job's) or `client.KEY` (the client's) to a list of values of
    that field's type, one of which the field must hold."""
    if not isinstance(given, dict):
        raise invalid(field, f"{field} must be an object of value lists by key")
    if len(given) > FILTERS_MAX:
        raise invalid(field, f"{field} has at most {FILTERS_MAX} keys")
    defined = {
        entity: await definitions(scope.firm_id, entity)
        for entity in {_addressed(str(name))[0] for name in given}
    }
    checked: dict[str, list[Any]] = {}
    for name, values in given.items():
        entity, key = _addressed(str(name))
        where = f"{field}.{_shown(str(name))}"
        definition = defined[entity].get(key)
        if definition is None:
            raise invalid(where, f"there is no {entity.lower()} custom field {_shown(key)!r}")
        if not isinstance(values, list) or not 1 <= len(values) <= CONDITION_VALUES_MAX:
            raise invalid(where, f"{where} must be a list of 1 to {CONDITION_VALUES_MAX} values")
        clean = [check_value(definition, value, where) for value in values]
        if any(value is None for value in clean):
            raise invalid(where, f"{where} lists values, not null")
        checked[name] = list(dict.fromkeys(clean))
    return checked


def unmet_condition(
    condition: dict[str, list[Any]], job_values: dict[str, Any], client_values: dict[str, Any]
) -> str | None:
    """Why the custom field condition does not hold (None if it does)."""
    for name, allowed in condition.items():
        entity, key = _addressed(name)
        values = client_values if entity == CustomFieldEntity.CLIENT else job_values
        value = values.get(key)
        # JSON true is no 1: compare type and value
        if not any(type(value) is type(a) and value == a for a in allowed):
            owner = "the client's" if entity == CustomFieldEntity.CLIENT else "the job's"
            return f"{owner} {key} is {orjson.dumps(value).decode()}"
    return None


# Placeholders -------------------------------------------------------------------------------

JOB_PREFIX, CLIENT_PREFIX = "job.customFields.", "client.customFields."


async def placeholder_names(scope: Scope, *entities: CustomFieldEntity) -> set[str]:
    """The custom field placeholders a template may use: {job.customFields.KEY} and
    {client.customFields.KEY} of the firm's definitions of these entities."""
    names: set[str] = set()
    for entity in entities:
        prefix = JOB_PREFIX if entity == CustomFieldEntity.JOB else CLIENT_PREFIX
        names |= {prefix + key for key in await definitions(scope.firm_id, entity)}
    return names


def shown_value(value: Any) -> str:
    """A value as a title or message shows it (unset: empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def placeholder_values(job: Job | None, client: Client) -> dict[str, str]:
    values = {CLIENT_PREFIX + k: shown_value(v) for k, v in client.custom_fields.items()}
    if job is not None:
        values |= {JOB_PREFIX + k: shown_value(v) for k, v in job.custom_fields.items()}
    return values
