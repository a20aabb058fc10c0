"""Where each field of the board graph comes from, said once.

The object types (schema.types) page their relations with these specs (parent column, order,
visibility), the DataLoaders read the same statements (models.rows), and the planned reads
(schema.plan, schema.plan_run) answer whole documents from them. A leaf is a column of the
type's model named like the strawberry field (tests/test_planned_reads.py checks every one
against the strawberry type and the model). What is not here (Job.history, Job.isOverdue,
Pipeline.template, ...) is answered by the resolvers alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.models import Model

from models import Client, Job, JobStatus, Pipeline, Stage, Task, User
from realtime.hub import FeedKey
from schema.feed_cursors import encode_feed_cursor

Row = Mapping[str, Any]
VISIBLE = (JobStatus.ACTIVE, JobStatus.COMPLETED)  # jobs shown unless archived ones are asked
STAGE_ORDER = ("position", "id")


def visible_statuses(include_archived: bool) -> tuple[str, ...] | None:
    """The statuses a job connection shows: all with includeArchived, else VISIBLE."""
    return None if include_archived else tuple(VISIBLE)


@dataclass(frozen=True)
class Leaf:
    """A column of the type's model (named like the strawberry field's Python name)."""

    column: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True)
class Computed:
    """A leaf made by `compute` from the row's `columns`."""

    compute: Callable[[Row], Any]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Ref:
    """One object: the row of `target` whose id the parent row holds in `column`."""

    target: str
    column: str


@dataclass(frozen=True)
class ById:
    """Query.pipeline(id:), Query.job(id:): one object of `target` by its global id."""

    target: str


@dataclass(frozen=True)
class Children:
    """A connection of `target` rows whose `parent_column` is the parent's id (None: the
    firm's rows, at the root), ordered by `order`. `archived_arg`: includeArchived chooses
    the statuses (visible_statuses); `statuses`: the statuses always shown. `null_args`:
    arguments the plan covers only when null (their filters are the resolvers' alone)."""

    target: str
    parent_column: str | None
    order: str
    archived_arg: bool = False
    statuses: tuple[str, ...] | None = None
    null_args: frozenset[str] = field(default_factory=frozenset)

    def shown(self, include_archived: bool) -> tuple[str, ...] | None:
        return visible_statuses(include_archived) if self.archived_arg else self.statuses


@dataclass(frozen=True)
class ChildList:
    """A plain list of every `target` row whose `parent_column` is the parent's id."""

    target: str
    parent_column: str
    order: tuple[str, ...]


@dataclass(frozen=True)
class Linked:
    """A plain list through a many-to-many table: its `key` column names the parent."""

    target: str
    link_table: str
    key: str
    order: str


@dataclass(frozen=True)
class NodeLookup:
    """Query.node(id:) (`many`: Query.nodes(ids:))."""

    many: bool


Spec = Leaf | Computed | Ref | ById | Children | ChildList | Linked | NodeLookup


@dataclass(frozen=True)
class TypeSpec:
    model: type[Model] | None  # None: Query
    fields: dict[str, Spec]  # by GraphQL name

    @property
    def table(self) -> str:
        assert self.model is not None
        return str(self.model._meta.db_table)


def _event_cursor(row: Row) -> str:
    return encode_feed_cursor(FeedKey("pipeline", row["id"]), row["event_seq"])


def _leaves(*names: str) -> dict[str, Spec]:
    """Leaves by GraphQL name (camelCase) from the columns' names."""

    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return {camel(name): Leaf(name) for name in names}


TIMES = ("created_at", "updated_at")
STAGE_JOBS = Children("Job", "stage_id", "rank", archived_arg=True)
PIPELINE_JOBS = Children("Job", "pipeline_id", "id", archived_arg=True)
CLIENT_JOBS = Children("Job", "client_id", "id", archived_arg=True)
JOB_TASKS = Children("Task", "job_id", "id")
PIPELINE_STAGES = ChildList("Stage", "pipeline_id", STAGE_ORDER)
JOB_ASSIGNEES = Linked("User", "job_assignee", "job_id", "name")

GRAPH: dict[str, TypeSpec] = {
    "Query": TypeSpec(
        None,
        {
            "pipeline": ById("Pipeline"),
            "pipelines": Children("Pipeline", None, "id"),
            "job": ById("Job"),
            "jobs": Children(
                "Job", None, "id", statuses=tuple(VISIBLE), null_args=frozenset({"filter"})
            ),
            "clients": Children("Client", None, "id", null_args=frozenset({"search"})),
            "node": NodeLookup(many=False),
            "nodes": NodeLookup(many=True),
        },
    ),
    "User": TypeSpec(User, _leaves("id", "name", "email", "role", "is_active")),
    "Client": TypeSpec(
        Client,
        {**_leaves("id", "name", "email", "tags", "custom_fields", *TIMES), "jobs": CLIENT_JOBS},
    ),
    "Pipeline": TypeSpec(
        Pipeline,
        {
            **_leaves("id", "name", *TIMES),
            "eventCursor": Computed(_event_cursor, ("id", "event_seq")),
            "stages": PIPELINE_STAGES,
            "jobs": PIPELINE_JOBS,
        },
    ),
    "Stage": TypeSpec(
        Stage,
        {
            **_leaves(
                "id", "name", "position", "wip_limit", "time_limit_days", "auto_move", "portal_name"
            ),
            "pipeline": Ref("Pipeline", "pipeline_id"),
            "jobs": STAGE_JOBS,
        },
    ),
    "Job": TypeSpec(
        Job,
        {
            **_leaves(
                "id",
                "title",
                "rank",
                "version",
                "status",
                "priority",
                "start_date",
                "due_date",
                "tags",
                "custom_fields",
                "period",
                "stage_entered_at",
                "stage_due_at",
                *TIMES,
            ),
            "client": Ref("Client", "client_id"),
            "pipeline": Ref("Pipeline", "pipeline_id"),
            "stage": Ref("Stage", "stage_id"),
            "assignees": JOB_ASSIGNEES,
            "tasks": JOB_TASKS,
        },
    ),
    "Task": TypeSpec(
        Task,
        {
            **_leaves("id", "title", "description", "due_date", "done", "done_at", *TIMES),
            "job": Ref("Job", "job_id"),
            "assignee": Ref("User", "assignee_id"),
        },
    ),
}
# The connection types' own fields, by GraphQL type name suffix.
CONNECTION_TYPES = {f"{name}Connection": name for name in ("Pipeline", "Job", "Task", "Client")}
