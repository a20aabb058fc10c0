"""Pipeline templates: a pipeline's board configuration as a portable, versioned JSON document
(docs/pipeline-templates.md), exported from one pipeline and imported into any firm.

Here, in the automations layer rather than in workflow, because an import creates its
automations through automations.manage, with the same checks as createAutomation.

Every reference a setting holds is written portably: a stage of the same pipeline by its
position, a person by email, a webhook endpoint by its name (its description), another
pipeline (and its stage) by name. An import resolves them in the importing firm and never
guesses: what does not resolve is dropped when the setting is optional, or else the whole
automation is left out, and each such decision is a warning. Anything else wrong with the
document is an INVALID_INPUT error naming its JSON path, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import settings as settings_module
from automations import manage
from models import ActionType, Automation, AutomationTrigger, Pipeline, Stage, User
from models.webhook import WebhookEndpoint
from workflow import pipelines, validation
from workflow.errors import DomainError, invalid
from workflow.scope import Scope
from workflow.unit import change

FORMAT = "pipeline-template"
VERSION = 1
MAX_BYTES = 256 * 1024  # the document serialized as compact UTF-8 JSON
# Containers inside containers: document, stages, stage, automations, automation, settings,
# lineItems, line item. Checked before anything else walks the document recursively.
MAX_DEPTH = 8
MAX_REFERENCE_LENGTH = 254  # an email address at most; names are at most 200
# The folder of the shipped templates: at the repository root, beside settings.py (an
# editable install maps the root modules and packages to the checkout, so this holds there too).
SHIPPED_DIR = Path(settings_module.__file__).resolve().parent / "templates" / "pipelines"

DOCUMENT_KEYS = ("format", "version", "name", "stages")
STAGE_KEYS = ("name", "portalName", "wipLimit", "timeLimitDays", "autoMove", "automations")
AUTOMATION_KEYS = ("action", "trigger", "triggerDays", "enabled", "conditions", "settings")


@dataclass(frozen=True)
class Reference:
    """How a setting that holds a row id is written in a template: `{kind: value}`."""

    kind: str  # "stage" (a position), "userEmail", "endpointName", "pipelineName", "stageName"
    required: bool


# Every setting that holds an id, per action (tests/test_pipeline_templates.py checks that
# every `...Id` key of every action's Settings is here).
REFERENCES: dict[ActionType, dict[str, Reference]] = {
    ActionType.CREATE_TASK: {"assigneeId": Reference("userEmail", required=False)},
    ActionType.MOVE_JOB: {"stageId": Reference("stage", required=True)},
    ActionType.TRANSFER_JOB: {
        "pipelineId": Reference("pipelineName", required=True),
        # a stage of the target pipeline: by name, as its positions are that pipeline's own
        "stageId": Reference("stageName", required=False),
    },
    ActionType.CALL_WEBHOOK: {"endpointId": Reference("endpointName", required=True)},
}


@dataclass(frozen=True)
class TemplateWarning:
    """Something an import could not map, and what it did instead."""

    path: str
    message: str


# ----------------------------------------------------------------------------------- export


async def export(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's template: its stages in order with their automations in order."""
    (document,) = await export_many([pipeline])
    return document


async def export_many(pipelines: list[Pipeline]) -> list[dict[str, Any]]:
    """The templates of pipelines of one firm, in a fixed number of statements whatever they
    hold: their stages, their automations, then one per kind of reference those make."""
    if not pipelines:
        return []
    firm_id = pipelines[0].firm_id
    assert all(p.firm_id == firm_id for p in pipelines), "one firm's pipelines at a time"
    stages_of: dict[int, list[Stage]] = {p.id: [] for p in pipelines}
    for stage in await Stage.filter(firm_id=firm_id, pipeline_id__in=list(stages_of)).order_by(
        "position", "id"
    ):
        stages_of[stage.pipeline_id].append(stage)
    stage_ids = [s.id for stages in stages_of.values() for s in stages]
    automations_of: dict[int, list[Automation]] = {i: [] for i in stage_ids}
    if stage_ids:
        for automation in await Automation.filter(firm_id=firm_id, stage_id__in=stage_ids).order_by(
            "position", "id"
        ):
            automations_of[automation.stage_id].append(automation)
    wanted: dict[tuple[ActionType, str], set[int]] = {
        (action, key): set() for action, keys in REFERENCES.items() for key in keys
    }
    for automations in automations_of.values():
        for automation in automations:
            for key in REFERENCES.get(automation.action, {}):
                value = automation.settings.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    wanted[automation.action, key].add(value)
    emails = await _values(User, "email", firm_id, wanted[ActionType.CREATE_TASK, "assigneeId"])
    endpoint_names = await _values(
        WebhookEndpoint, "description", firm_id, wanted[ActionType.CALL_WEBHOOK, "endpointId"]
    )
    pipeline_names = await _values(
        Pipeline, "name", firm_id, wanted[ActionType.TRANSFER_JOB, "pipelineId"]
    )
    transfer_stages: dict[int, Stage] = {}
    if ids := wanted[ActionType.TRANSFER_JOB, "stageId"]:
        transfer_stages = {s.id: s for s in await Stage.filter(firm_id=firm_id, id__in=ids)}

    def portable(automation: Automation, positions: dict[int, int]) -> dict[str, Any]:
        settings = dict(automation.settings)
        for key in REFERENCES.get(automation.action, {}):
            if key not in settings:
                continue
            value: Any = settings[key]
            match automation.action, key:
                case ActionType.CREATE_TASK, _:
                    settings[key] = _ref("userEmail", emails.get(value))
                case ActionType.MOVE_JOB, _:
                    settings[key] = _ref("stage", positions.get(value))
                case ActionType.CALL_WEBHOOK, _:
                    settings[key] = _ref("endpointName", endpoint_names.get(value))
                case ActionType.TRANSFER_JOB, "pipelineId":
                    settings[key] = _ref("pipelineName", pipeline_names.get(value))
                case ActionType.TRANSFER_JOB, _:
                    stage = transfer_stages.get(value)
                    # a stage of the target pipeline (the original settings' pipelineId)
                    target = automation.settings.get("pipelineId")
                    ok = stage is not None and stage.pipeline_id == target
                    settings[key] = _ref("stageName", stage.name if stage and ok else None)
        return {
            "action": str(automation.action),
            "trigger": str(automation.trigger),
            "triggerDays": automation.trigger_days,
            "enabled": automation.enabled,
            "conditions": dict(automation.conditions),
            "settings": settings,
        }

    def document(pipeline: Pipeline) -> dict[str, Any]:
        stages = stages_of[pipeline.id]
        positions = {stage.id: index for index, stage in enumerate(stages)}
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": pipeline.name,
            "stages": [
                {
                    "name": stage.name,
                    "portalName": stage.portal_name,
                    "wipLimit": stage.wip_limit,
                    "timeLimitDays": stage.time_limit_days,
                    "autoMove": stage.auto_move,
                    "automations": [portable(a, positions) for a in automations_of[stage.id]],
                }
                for stage in stages
            ],
        }

    return [document(pipeline) for pipeline in pipelines]


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ref(kind: str, value: object) -> dict[str, Any] | None:
    """The portable reference, or null when the id named nothing any more (a deleted
    endpoint, stage or pipeline): an import then warns that it does not resolve."""
    return None if value is None else {kind: value}


async def _values(model: Any, column: str, firm_id: int, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    rows = await model.filter(firm_id=firm_id, id__in=ids).values_list("id", column)
    return {row_id: value for row_id, value in rows}


# ----------------------------------------------------------------------------------- import


@dataclass
class _Automation:
    path: str
    action: ActionType
    trigger: AutomationTrigger
    trigger_days: int | None
    enabled: bool
    conditions: dict[str, Any] | None
    settings: dict[str, Any]


@dataclass
class _Stage:
    path: str
    name: str
    portal_name: str | None
    wip_limit: int | None
    time_limit_days: int | None
    auto_move: bool
    automations: list[_Automation] = field(default_factory=list)


@dataclass
class _Document:
    name: str
    stages: list[_Stage]


async def import_template(
    scope: Scope, template: Any, name: str | None = None
) -> tuple[Pipeline, list[TemplateWarning]]:
    """A new pipeline of the caller's firm from a template, named `name` (by default the
    template's), in one change: all of it or, on any error, nothing. The warnings say what
    could not be mapped in this firm and what was done instead."""
    document = parse(template)
    warnings: list[TemplateWarning] = []
    async with change(scope):
        targets = await _Targets.load(scope, document)
        with _at("name" if name is not None else "template.name", keep_field=False):
            pipeline = await pipelines.create_pipeline(
                scope, document.name if name is None else name, [s.name for s in document.stages]
            )
        rows = list(await Stage.filter(pipeline_id=pipeline.id).order_by("position"))
        for stage, row in zip(document.stages, rows, strict=True):
            changes: dict[str, Any] = {}
            if stage.portal_name is not None:
                changes["portal_name"] = stage.portal_name
            if stage.wip_limit is not None:
                changes["wip_limit"] = stage.wip_limit
            if stage.time_limit_days is not None:
                changes["time_limit_days"] = stage.time_limit_days
            if stage.auto_move:
                changes["auto_move"] = True
            if changes:
                with _at(stage.path):
                    await pipelines.update_stage(scope, row.id, **changes)
        for stage, row in zip(document.stages, rows, strict=True):
            for automation in stage.automations:
                settings = targets.resolve(automation, rows, warnings)
                if settings is None:
                    continue
                with _at(automation.path):
                    await manage.create_automation(
                        scope,
                        row.id,
                        automation.action,
                        settings,
                        automation.enabled,
                        automation.conditions,
                        automation.trigger,
                        automation.trigger_days,
                    )
    return pipeline, warnings


# Fields the domain operations name that are the template's own keys at the same path.
_LOCAL_FIELDS = {"name", "portalName", "wipLimit", "timeLimitDays", "autoMove", "triggerDays"}


@contextmanager
def _at(path: str, keep_field: bool = True) -> Iterator[None]:
    """Name the template's path in a DomainError of the operation run inside."""
    try:
        yield
    except DomainError as error:
        local = error.field or ""
        if keep_field and (local in _LOCAL_FIELDS or local.startswith(("settings", "conditions"))):
            error.field = f"{path}.{local}"
        elif not keep_field and local == "stageNames":
            error.field = "template.stages"
        else:
            error.field = path
        raise


@dataclass
class _Targets:
    """The importing firm's rows the template's references name, read once each."""

    users: dict[str, User]
    endpoints: dict[str, list[WebhookEndpoint]]
    pipelines: dict[str, list[Pipeline]]
    stages: dict[int, list[Stage]]

    @classmethod
    async def load(cls, scope: Scope, document: _Document) -> _Targets:
        wanted: dict[str, set[str]] = {"userEmail": set(), "endpointName": set()}
        wanted["pipelineName"] = set()
        for stage in document.stages:
            for automation in stage.automations:
                for key, reference in REFERENCES.get(automation.action, {}).items():
                    value = automation.settings.get(key)
                    if isinstance(value, dict) and reference.kind in wanted:
                        wanted[reference.kind].add(value[reference.kind])
        users: dict[str, User] = {}
        if emails := {e.strip().lower() for e in wanted["userEmail"]}:
            users = {
                u.email.lower(): u for u in await scope.query(User).filter(email__in=sorted(emails))
            }
        endpoints: dict[str, list[WebhookEndpoint]] = {}
        if names := wanted["endpointName"] - {""}:
            for endpoint in await scope.query(WebhookEndpoint).filter(
                description__in=sorted(names)
            ):
                endpoints.setdefault(endpoint.description, []).append(endpoint)
        found: dict[str, list[Pipeline]] = {}
        stages: dict[int, list[Stage]] = {}
        if names := wanted["pipelineName"]:
            for pipeline in await scope.query(Pipeline).filter(name__in=sorted(names)):
                found.setdefault(pipeline.name, []).append(pipeline)
            ids = [p.id for group in found.values() for p in group]
            for row in await Stage.filter(pipeline_id__in=ids).order_by("position") if ids else []:
                stages.setdefault(row.pipeline_id, []).append(row)
        return cls(users, endpoints, found, stages)

    def resolve(
        self, automation: _Automation, rows: list[Stage], warnings: list[TemplateWarning]
    ) -> dict[str, Any] | None:
        """The automation's settings with its references as this firm's row ids, or None when
        a required one does not resolve (the automation is then left out); a warning for each
        reference not mapped."""
        settings = dict(automation.settings)
        references = REFERENCES.get(automation.action, {})
        target_pipeline: Pipeline | None = None
        for key, reference in references.items():
            if key not in settings:
                continue  # the action's check says whether it is required
            where = f"{automation.path}.settings.{key}"
            value = settings[key]
            found, why = None, "it names nothing (the exported reference did not exist)"
            if value is not None:
                named = value[reference.kind]
                found, why = self._one(reference.kind, named, rows, target_pipeline)
            if found is None and reference.required:
                warnings.append(
                    TemplateWarning(where, f"{why}: the {automation.action} automation is left out")
                )
                return None
            if found is None:
                if value is not None:
                    warnings.append(TemplateWarning(where, f"{why}: {_DROPPED[reference.kind]}"))
                settings[key] = None
                continue
            settings[key] = found.id
            if isinstance(found, Pipeline):
                target_pipeline = found
        return settings

    def _one(
        self, kind: str, named: Any, rows: list[Stage], target_pipeline: Pipeline | None
    ) -> tuple[Any, str]:
        """The row a reference names here, or None and why not."""
        if kind == "stage":
            if named < len(rows):
                return rows[named], ""
            return None, f"there is no stage at position {named} (the template has {len(rows)})"
        if kind == "userEmail":
            user = self.users.get(named.strip().lower())
            if user is None:
                return None, f"no person of this firm has the email {named!r}"
            if not user.is_active:
                return None, f"{named!r} is deactivated in this firm"
            return user, ""
        if kind == "endpointName":
            if not named:
                return None, "the endpoint had no name (description) to find it by"
            return _single(self.endpoints.get(named, []), f"webhook endpoint named {named!r}")
        if kind == "pipelineName":
            return _single(self.pipelines.get(named, []), f"pipeline named {named!r}")
        # stageName: a stage of the transfer's target pipeline, resolved just before
        if target_pipeline is None:
            return None, "its pipeline does not resolve"
        matches = [s for s in self.stages.get(target_pipeline.id, []) if s.name == named]
        return _single(matches, f"stage named {named!r} in {target_pipeline.name!r}")


_DROPPED = {
    "userEmail": "the setting is dropped, so the task is made unassigned",
    "stageName": "the setting is dropped, so jobs enter the target pipeline's first stage",
}


def _single(rows: list[Any], what: str) -> tuple[Any, str]:
    if not rows:
        return None, f"this firm has no {what}"
    if len(rows) > 1:
        return None, f"this firm has {len(rows)} of {what}: which one is not guessed"
    return rows[0], ""


# ------------------------------------------------------------------------- the document's shape


def parse(template: Any) -> _Document:
    """The document, its shape checked strictly: the format and version first (a newer
    version's other changes are not second-guessed), then size, then every key and type.
    The values themselves are checked by the operations that create the pipeline."""
    if not isinstance(template, dict):
        raise invalid("template", "the template must be a JSON object")
    if template.get("format") != FORMAT:
        raise invalid("template.format", f'the template\'s format must be "{FORMAT}"')
    version = template.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise invalid("template.version", "the template's version must be a whole number from 1")
    if version > VERSION:
        raise invalid(
            "template.version",
            f"the template is of version {version} of the format, newer than this server "
            f"reads (up to {VERSION}): export it again from a server of this version",
        )
    _check_size(template)
    _keys(template, "template", DOCUMENT_KEYS, required=DOCUMENT_KEYS)
    name = _name(template["name"], "template.name")
    stages = template["stages"]
    if not isinstance(stages, list) or not stages:
        raise invalid("template.stages", "template.stages must be a list of at least one stage")
    if len(stages) > pipelines.STAGES_MAX:
        raise invalid("template.stages", f"a pipeline has at most {pipelines.STAGES_MAX} stages")
    return _Document(
        name, [_stage(stage, f"template.stages[{i}]") for i, stage in enumerate(stages)]
    )


def _stage(value: Any, path: str) -> _Stage:
    _keys(value, path, STAGE_KEYS, required=("name",))
    automations = value.get("automations")
    if automations is None:
        automations = []
    if not isinstance(automations, list):
        raise invalid(f"{path}.automations", f"{path}.automations must be a list")
    if len(automations) > manage.MAX_AUTOMATIONS_PER_STAGE:
        raise invalid(
            f"{path}.automations",
            f"a stage has at most {manage.MAX_AUTOMATIONS_PER_STAGE} automations",
        )
    portal_name = value.get("portalName")
    return _Stage(
        path=path,
        name=_name(value["name"], f"{path}.name"),
        portal_name=None if portal_name is None else _name(portal_name, f"{path}.portalName"),
        wip_limit=_whole(value, "wipLimit", path),
        time_limit_days=_whole(value, "timeLimitDays", path),
        auto_move=_flag(value, "autoMove", path, default=False),
        automations=[
            _automation(automation, f"{path}.automations[{j}]")
            for j, automation in enumerate(automations)
        ],
    )


def _automation(value: Any, path: str) -> _Automation:
    _keys(value, path, AUTOMATION_KEYS, required=("action",))
    action = value["action"]
    if not isinstance(action, str) or action not in ActionType.__members__:
        raise invalid(
            f"{path}.action", f"{path}.action is one of {', '.join(ActionType)}; not {action!r}"
        )
    trigger = value.get("trigger")
    if trigger is not None and (
        not isinstance(trigger, str) or trigger not in AutomationTrigger.__members__
    ):
        raise invalid(f"{path}.trigger", f"{path}.trigger is one of {', '.join(AutomationTrigger)}")
    conditions = value.get("conditions")
    if conditions is not None and not isinstance(conditions, dict):
        raise invalid(f"{path}.conditions", f"{path}.conditions must be an object")
    settings = value.get("settings")
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise invalid(f"{path}.settings", f"{path}.settings must be an object")
    kind = ActionType(action)
    for key, reference in REFERENCES.get(kind, {}).items():
        if settings.get(key) is not None:
            _reference(settings[key], f"{path}.settings.{key}", reference.kind)
    return _Automation(
        path=path,
        action=kind,
        trigger=AutomationTrigger(trigger or AutomationTrigger.STAGE_ENTRY),
        trigger_days=_whole(value, "triggerDays", path),
        enabled=_flag(value, "enabled", path, default=True),
        conditions=conditions,
        settings=settings,
    )


def _reference(value: Any, path: str, kind: str) -> None:
    """A reference is `{kind: value}`, never a row id (ids mean nothing in another firm)."""
    example = '{"stage": 0}' if kind == "stage" else f'{{"{kind}": "..."}}'
    if not isinstance(value, dict) or set(value) != {kind}:
        raise invalid(path, f"{path} must be a reference written {example} (or null)")
    named = value[kind]
    if kind == "stage":
        if not _is_id(named) or named < 0:
            raise invalid(path, f"{path}.stage must be a stage's position, from 0")
    elif not isinstance(named, str) or len(named) > MAX_REFERENCE_LENGTH:
        raise invalid(path, f"{path}.{kind} must be a string of at most 254 characters")


def _keys(value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise invalid(path, f"{path} must be an object")
    if unknown := sorted(set(value) - set(allowed)):
        raise invalid(
            f"{path}.{unknown[0]}",
            f"{path} takes {', '.join(allowed)}; unknown: {', '.join(unknown[:5])}",
        )
    for key in required:
        if value.get(key) is None:
            raise invalid(f"{path}.{key}", f"{path}.{key} is required")


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, f"{path} must be a string")
    return validation.name(value, path)


def _whole(value: dict[str, Any], key: str, path: str) -> int | None:
    """An optional whole number (its range is the operation's to check)."""
    number = value.get(key)
    if number is not None and not _is_id(number):
        raise invalid(f"{path}.{key}", f"{path}.{key} must be a whole number or null")
    return number


def _flag(value: dict[str, Any], key: str, path: str, default: bool) -> bool:
    flag = value.get(key)
    if flag is None:
        return default
    if not isinstance(flag, bool):
        raise invalid(f"{path}.{key}", f"{path}.{key} must be true or false")
    return flag


def _check_size(template: dict[str, Any]) -> None:
    """At most MAX_DEPTH containers deep (walked without recursion), then at most MAX_BYTES."""
    pending: list[tuple[Any, int]] = [(template, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise invalid("template", f"the template nests more than {MAX_DEPTH} levels deep")
        children = value.values() if isinstance(value, dict) else value
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    size = len(
        json.dumps(template, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )
    )
    if size > MAX_BYTES:
        raise invalid("template", f"the template is {size} bytes; at most {MAX_BYTES}")


# ------------------------------------------------------------------------- shipped templates

# The seed's pipelines, in the order the demo makes them.
SHIPPED = ("1040-return", "w-2", "payroll", "bookkeeping-lead")


def shipped(stem: str) -> dict[str, Any]:
    """A template shipped under templates/pipelines/, by its file name without `.json`."""
    path = SHIPPED_DIR / f"{stem}.json"
    if not path.is_file():  # a wheel install ships no templates/: say where they are looked for
        raise invalid("template", f"no shipped template {path} (in a checkout, or pip install -e)")
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


async def import_shipped(scope: Scope) -> list[Pipeline]:
    """Every shipped template imported into the firm, in SHIPPED order (the demo's pipelines).
    They name no person, endpoint or other pipeline: they import without warnings."""
    made = []
    for stem in SHIPPED:
        pipeline, _ = await import_template(scope, shipped(stem))
        made.append(pipeline)
    return made
