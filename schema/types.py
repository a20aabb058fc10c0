"""The object types of the graph. Leaves are plain attributes (synchronous, cheap); relations
resolve through the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from tortoise.models import Model

from models import (
    Automation,
    AutomationRun,
    Client,
    Contact,
    Email,
    Invoice,
    Job,
    JobEvent,
    Message,
    Organizer,
    Pipeline,
    RecurringSchedule,
    Stage,
    Task,
    User,
)
from realtime.hub import FeedKey
from schema.board_specs import CLIENT_JOBS, GRAPH, JOB_TASKS, PIPELINE_JOBS, STAGE_JOBS, Children
from schema.connection import Connection, build, decode_cursor, page_size
from schema.context import Info
from schema.emails import EmailType
from schema.enums import (
    ActionTypeEnum,
    InvoiceStatusEnum,
    JobEventTypeEnum,
    JobStatusEnum,
    MessageDirectionEnum,
    OrganizerStatusEnum,
    PriorityEnum,
    RoleEnum,
    RunStatusEnum,
    TriggerEnum,
)
from schema.feed_cursors import encode_feed_cursor
from schema.loaders import CountKey, PageKey, where_in
from schema.node import Node, encode_id
from workflow import deadlines
from workflow.global_ids import public_changes

if TYPE_CHECKING:
    from schema.schedules import RecurringScheduleType

T = TypeVar("T")
R = TypeVar("R", bound=Model)


def referenced(row: R | None) -> R:
    """The row a foreign key of a loaded row points to: there, as deleting it cascades."""
    if row is None:
        raise LookupError("a referenced row is missing")
    return row


async def child_connection(
    info: Info,
    model: type[Model],
    parent_column: str,
    parent_id: int,
    order_column: str,
    wrap: Callable[[Any], T],
    first: int | None,
    after: str | None,
    **conditions: Any,
) -> Connection[T]:
    """One page of a parent's children, batched with its siblings' pages (one statement)."""
    size = page_size(first)
    cursor = decode_cursor(after, order_column)
    loaders = info.context.loaders
    filters = where_in(**conditions)
    rows = await loaders.pages.load(
        PageKey(model, parent_column, parent_id, order_column, size + 1, cursor, filters)
    )

    async def count() -> int:
        return await loaders.counts.load(CountKey(model, parent_column, parent_id, filters))

    return build(rows, size, order_column, wrap, count, has_previous=cursor is not None)


async def spec_connection(
    info: Info,
    spec: Children,
    parent_id: int,
    wrap: Callable[[Any], T],
    first: int | None,
    after: str | None,
    include_archived: bool = False,
) -> Connection[T]:
    """One page of a board graph connection as its spec (schema.board_specs) declares it."""
    assert spec.parent_column is not None
    model = GRAPH[spec.target].model
    assert model is not None
    return await child_connection(
        info,
        model,
        spec.parent_column,
        parent_id,
        spec.order,
        wrap,
        first,
        after,
        status=spec.shown(include_archived),
    )


@strawberry.type(name="User")
class UserType(Node):
    name: str
    email: str
    role: RoleEnum
    is_active: bool

    @classmethod
    def from_model(cls, user: User) -> UserType:
        return cls(
            id=encode_id("User", user.id),
            name=user.name,
            email=user.email,
            role=user.role,
            is_active=user.is_active,
        )


@strawberry.type(name="Client")
class ClientType(Node):
    name: str
    email: str | None
    tags: list[str]
    custom_fields: JSON = strawberry.field(
        description="Values of the firm's CLIENT custom fields by key (unset ones absent)."
    )
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, client: Client) -> ClientType:
        return cls(
            id=encode_id("Client", client.id),
            name=client.name,
            email=client.email,
            tags=client.tags,
            custom_fields=JSON(client.custom_fields),
            created_at=client.created_at,
            updated_at=client.updated_at,
            pk=client.id,
        )

    @strawberry.field
    async def jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_archived: bool = False,
    ) -> Connection[JobType]:
        return await spec_connection(
            info, CLIENT_JOBS, self.pk, JobType.from_model, first, after, include_archived
        )

    @strawberry.field(description="The client's contacts, oldest first.")
    async def contacts(self, info: Info) -> list[ContactType]:
        contacts = await info.context.loaders.contacts_by_client.load(self.pk)
        return [ContactType.from_model(contact) for contact in contacts]


@strawberry.type(name="Contact")
class ContactType(Node):
    name: str
    email: str = strawberry.field(description="Lower-case; unique within the client.")
    portal_access: bool = strawberry.field(
        description="The contact may sign in to the client portal."
    )
    client_pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, contact: Contact) -> ContactType:
        return cls(
            id=encode_id("Contact", contact.id),
            name=contact.name,
            email=contact.email,
            portal_access=contact.portal_access,
            client_pk=contact.client_id,
        )

    @strawberry.field
    async def client(self, info: Info) -> ClientType:
        client = await info.context.loaders.client.load(self.client_pk)
        return ClientType.from_model(referenced(client))


@strawberry.type(name="Pipeline")
class PipelineType(Node):
    name: str
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    event_seq: strawberry.Private[int]

    @classmethod
    def from_model(cls, pipeline: Pipeline) -> PipelineType:
        return cls(
            id=encode_id("Pipeline", pipeline.id),
            name=pipeline.name,
            created_at=pipeline.created_at,
            updated_at=pipeline.updated_at,
            pk=pipeline.id,
            event_seq=pipeline.event_seq,
        )

    @strawberry.field(
        description="The board's place in its event feed when this pipeline was read: a board "
        "fetched with it, then `boardUpdated(after: eventCursor)`, misses no change (one made "
        "while the board was read may arrive too)."
    )
    def event_cursor(self) -> str:
        # The pipeline row is read before its stages and jobs, so every event after this
        # position is replayed to the subscriber: at worst one it already shows.
        return encode_feed_cursor(FeedKey("pipeline", self.pk), self.event_seq)

    @strawberry.field(description="The stages, in order.")
    async def stages(self, info: Info) -> list[StageType]:
        stages = await info.context.loaders.stages_by_pipeline.load(self.pk)
        return [StageType.from_model(stage) for stage in stages]

    @strawberry.field(
        description="The pipeline as a template (docs/pipeline-templates.md): its stages with "
        "their limits and flags, their automations with conditions and settings, every "
        "reference portable (stages by position, people by email, webhook endpoints and "
        "pipelines by name). `importPipelineTemplate` makes a pipeline from it in any firm."
    )
    async def template(self, info: Info) -> JSON:
        document = await info.context.loaders.pipeline_templates.load(self.pk)
        if document is None:  # deleted since this pipeline was read
            raise LookupError("the pipeline is gone")
        return JSON(document)

    @strawberry.field(description="Jobs of every stage, oldest first.")
    async def jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_archived: bool = False,
    ) -> Connection[JobType]:
        return await spec_connection(
            info, PIPELINE_JOBS, self.pk, JobType.from_model, first, after, include_archived
        )


@strawberry.type(name="Stage")
class StageType(Node):
    name: str
    position: int
    wip_limit: int | None
    time_limit_days: int | None
    auto_move: bool = strawberry.field(
        description="Jobs move on to the next stage once their items here are all done."
    )
    portal_name: str | None = strawberry.field(
        description="The stage's name as clients see it in the portal; null: its name."
    )
    pk: strawberry.Private[int]
    pipeline_pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, stage: Stage) -> StageType:
        return cls(
            id=encode_id("Stage", stage.id),
            name=stage.name,
            position=stage.position,
            wip_limit=stage.wip_limit,
            time_limit_days=stage.time_limit_days,
            auto_move=stage.auto_move,
            portal_name=stage.portal_name,
            pk=stage.id,
            pipeline_pk=stage.pipeline_id,
        )

    @strawberry.field
    async def pipeline(self, info: Info) -> PipelineType:
        pipeline = await info.context.loaders.pipeline.load(self.pipeline_pk)
        return PipelineType.from_model(referenced(pipeline))

    @strawberry.field(description="What runs when a job enters this stage, in order.")
    async def automations(self, info: Info) -> list[AutomationType]:
        automations = await info.context.loaders.automations_by_stage.load(self.pk)
        return [AutomationType.from_model(automation) for automation in automations]

    @strawberry.field(description="The stage's jobs in board order (by rank).")
    async def jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_archived: bool = False,
    ) -> Connection[JobType]:
        return await spec_connection(
            info, STAGE_JOBS, self.pk, JobType.from_model, first, after, include_archived
        )


@strawberry.type(name="Job")
class JobType(Node):
    title: str
    rank: str = strawberry.field(description="Orders the job within its stage (ascending).")
    version: int = strawberry.field(description="Grows by one on every change to the job.")
    status: JobStatusEnum
    priority: PriorityEnum
    start_date: date | None
    due_date: date | None
    tags: list[str]
    custom_fields: JSON = strawberry.field(
        description="Values of the firm's JOB custom fields by key (unset ones absent)."
    )
    period: str | None = strawberry.field(
        description="The period the job is for (2026, 2026-Q1, 2026-03, 2026-W05, 2026-03-15), "
        "if it was made from a template for one."
    )
    stage_entered_at: datetime
    stage_due_at: datetime | None = strawberry.field(
        description="When the job passes its stage's time limit: stageEnteredAt + the "
        "stage's timeLimitDays (null without a limit)."
    )
    is_overdue: bool = strawberry.field(
        description="Active, and past its stageDueAt or its due date (which passes at the "
        "end of that day, UTC)."
    )
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    client_pk: strawberry.Private[int]
    pipeline_pk: strawberry.Private[int]
    stage_pk: strawberry.Private[int]
    recurring_schedule_pk: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, job: Job) -> JobType:
        return cls(
            id=encode_id("Job", job.id),
            title=job.title,
            rank=job.rank,
            version=job.version,
            status=job.status,
            priority=job.priority,
            start_date=job.start_date,
            due_date=job.due_date,
            tags=job.tags,
            custom_fields=JSON(job.custom_fields),
            period=job.period,
            stage_entered_at=job.stage_entered_at,
            stage_due_at=job.stage_due_at,
            is_overdue=deadlines.is_overdue(job),
            created_at=job.created_at,
            updated_at=job.updated_at,
            pk=job.id,
            client_pk=job.client_id,
            pipeline_pk=job.pipeline_id,
            stage_pk=job.stage_id,
            recurring_schedule_pk=job.recurring_schedule_id,
        )

    @strawberry.field
    async def client(self, info: Info) -> ClientType:
        client = await info.context.loaders.client.load(self.client_pk)
        return ClientType.from_model(referenced(client))

    @strawberry.field(
        description="The recurring schedule that made the job (null: made otherwise, or that "
        "schedule was deleted since)."
    )
    async def recurring_schedule(
        self, info: Info
    ) -> Annotated[RecurringScheduleType, strawberry.lazy("schema.schedules")] | None:
        if self.recurring_schedule_pk is None:
            return None
        from schema.schedules import RecurringScheduleType  # it imports this module

        schedule = await info.context.loaders.by_id(RecurringSchedule).load(
            self.recurring_schedule_pk
        )
        return RecurringScheduleType.from_model(schedule) if schedule else None

    @strawberry.field
    async def pipeline(self, info: Info) -> PipelineType:
        pipeline = await info.context.loaders.pipeline.load(self.pipeline_pk)
        return PipelineType.from_model(referenced(pipeline))

    @strawberry.field
    async def stage(self, info: Info) -> StageType:
        stage = await info.context.loaders.stage.load(self.stage_pk)
        return StageType.from_model(referenced(stage))

    @strawberry.field
    async def assignees(self, info: Info) -> list[UserType]:
        users = await info.context.loaders.assignees_by_job.load(self.pk)
        return [UserType.from_model(user) for user in users]

    @strawberry.field(description="The job's tasks, oldest first.")
    async def tasks(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[TaskType]:
        return await spec_connection(info, JOB_TASKS, self.pk, TaskType.from_model, first, after)

    @strawberry.field(description="The automations run (or to run) for this job, oldest first.")
    async def automation_runs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AutomationRunType]:
        return await child_connection(
            info,
            AutomationRun,
            "job_id",
            self.pk,
            "id",
            AutomationRunType.from_model,
            first,
            after,
        )

    @strawberry.field(description="Questionnaires sent to the client for this job.")
    async def organizers(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[OrganizerType]:
        return await child_connection(
            info, Organizer, "job_id", self.pk, "id", OrganizerType.from_model, first, after
        )

    @strawberry.field(description="Messages sent to the client about this job.")
    async def messages(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[MessageType]:
        return await child_connection(
            info, Message, "job_id", self.pk, "id", MessageType.from_model, first, after
        )

    @strawberry.field(description="Invoices for this job.")
    async def invoices(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[InvoiceType]:
        return await child_connection(
            info, Invoice, "job_id", self.pk, "id", InvoiceType.from_model, first, after
        )

    @strawberry.field(
        description="Emails sent (or to send) to the client's contacts about this job, oldest "
        "first."
    )
    async def emails(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[EmailType]:
        return await child_connection(
            info, Email, "job_id", self.pk, "id", EmailType.from_model, first, after
        )

    @strawberry.field(
        description="What is still open in the job's stage: tasks, organizers, invoices. "
        "In a stage with autoMove, the job moves on when this is empty."
    )
    async def auto_move_blockers(self, info: Info) -> list[str]:
        return await info.context.loaders.auto_move_blockers.load((self.pk, self.stage_pk))

    @strawberry.field(description="Every change to the job, oldest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[JobEventType]:
        return await child_connection(
            info, JobEvent, "job_id", self.pk, "id", JobEventType.from_model, first, after
        )


@strawberry.type(name="Task")
class TaskType(Node):
    title: str
    description: str
    due_date: date | None
    done: bool
    done_at: datetime | None
    created_at: datetime
    updated_at: datetime
    job_pk: strawberry.Private[int]
    assignee_pk: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, task: Task) -> TaskType:
        return cls(
            id=encode_id("Task", task.id),
            title=task.title,
            description=task.description,
            due_date=task.due_date,
            done=task.done,
            done_at=task.done_at,
            created_at=task.created_at,
            updated_at=task.updated_at,
            job_pk=task.job_id,
            assignee_pk=task.assignee_id,
        )

    @strawberry.field
    async def job(self, info: Info) -> JobType:
        job = await info.context.loaders.job.load(self.job_pk)
        return JobType.from_model(referenced(job))

    @strawberry.field
    async def assignee(self, info: Info) -> UserType | None:
        if self.assignee_pk is None:
            return None
        user = await info.context.loaders.user.load(self.assignee_pk)
        return UserType.from_model(user) if user else None


@strawberry.type(name="JobEvent")
class JobEventType(Node):
    type: JobEventTypeEnum
    seq: int = strawberry.field(description="Position in its pipeline's event log.")
    occurred_at: datetime
    job_version: int | None
    changes: JSON
    from_stage_id: strawberry.ID | None
    to_stage_id: strawberry.ID | None
    from_pipeline_id: strawberry.ID | None
    to_pipeline_id: strawberry.ID | None
    actor_pk: strawberry.Private[int | None]
    job_pk: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, event: JobEvent) -> JobEventType:
        def ref(type_name: str, pk: int | None) -> strawberry.ID | None:
            return None if pk is None else encode_id(type_name, pk)

        return cls(
            id=encode_id("JobEvent", event.id),
            type=event.type,
            seq=event.seq,
            occurred_at=event.created_at,
            job_version=event.job_version,
            changes=JSON(public_changes(event.changes)),
            from_stage_id=ref("Stage", event.from_stage_id),
            to_stage_id=ref("Stage", event.to_stage_id),
            from_pipeline_id=ref("Pipeline", event.from_pipeline_id),
            to_pipeline_id=ref("Pipeline", event.to_pipeline_id),
            actor_pk=event.actor_id,
            job_pk=event.job_id,
        )

    @strawberry.field(description="Who made the change; null for the system.")
    async def actor(self, info: Info) -> UserType | None:
        if self.actor_pk is None:
            return None
        user = await info.context.loaders.user.load(self.actor_pk)
        return UserType.from_model(user) if user else None

    @strawberry.field
    async def job(self, info: Info) -> JobType | None:
        if self.job_pk is None:
            return None
        job = await info.context.loaders.job.load(self.job_pk)
        return JobType.from_model(job) if job else None


# settings and results that name other objects
ID_SETTINGS = {
    "assigneeId": "User",
    "stageId": "Stage",
    "taskId": "Task",
    "pipelineId": "Pipeline",
    "organizerId": "Organizer",
    "messageId": "Message",
    "invoiceId": "Invoice",
    "endpointId": "WebhookEndpoint",
    "deliveryId": "WebhookDelivery",
}


def settings_out(settings: dict[str, object]) -> JSON:
    """Settings as clients write them: references as global ids."""

    def out(key: str, value: object) -> object:
        if isinstance(value, int) and key in ID_SETTINGS:
            return encode_id(ID_SETTINGS[key], value)
        if isinstance(value, list) and key == "taskIds":
            return [encode_id("Task", item) for item in value]
        return value

    return JSON({key: out(key, value) for key, value in settings.items()})


@strawberry.type(name="Automation")
class AutomationType(Node):
    action: ActionTypeEnum
    settings: JSON
    conditions: JSON
    enabled: bool
    position: int
    trigger: TriggerEnum = strawberry.field(
        description="When it runs for a job in its stage: at entry (STAGE_ENTRY) or on a date."
    )
    trigger_days: int | None = strawberry.field(
        description="The days of a DAYS_* trigger (null for the others)."
    )
    stage_pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, automation: Automation) -> AutomationType:
        return cls(
            id=encode_id("Automation", automation.id),
            action=automation.action,
            settings=settings_out(automation.settings),
            conditions=JSON(automation.conditions),
            enabled=automation.enabled,
            position=automation.position,
            trigger=automation.trigger,
            trigger_days=automation.trigger_days,
            stage_pk=automation.stage_id,
        )

    @strawberry.field
    async def stage(self, info: Info) -> StageType:
        stage = await info.context.loaders.stage.load(self.stage_pk)
        return StageType.from_model(referenced(stage))


@strawberry.type(name="AutomationRun")
class AutomationRunType(Node):
    action: ActionTypeEnum
    status: RunStatusEnum
    attempts: int
    depth: int = strawberry.field(description="How many automations in a row led to this run.")
    error: str | None
    result: JSON = strawberry.field(description="What the run created or changed.")
    created_at: datetime
    run_after: datetime = strawberry.field(
        description="When it is due: its entry, its date for a date-triggered automation, "
        "or its next attempt after a failure."
    )
    finished_at: datetime | None
    job_pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, run: AutomationRun) -> AutomationRunType:
        return cls(
            id=encode_id("AutomationRun", run.id),
            action=run.action,
            status=run.status,
            attempts=run.attempts,
            depth=run.depth,
            error=run.error,
            result=settings_out(run.result),
            created_at=run.created_at,
            run_after=run.run_after,
            finished_at=run.finished_at,
            job_pk=run.job_id,
        )

    @strawberry.field
    async def job(self, info: Info) -> JobType:
        job = await info.context.loaders.job.load(self.job_pk)
        return JobType.from_model(referenced(job))


@strawberry.type(name="Organizer")
class OrganizerType(Node):
    title: str
    questions: list[str]
    answers: list[str]
    status: OrganizerStatusEnum
    created_at: datetime
    submitted_at: datetime | None

    @classmethod
    def from_model(cls, organizer: Organizer) -> OrganizerType:
        return cls(
            id=encode_id("Organizer", organizer.id),
            title=organizer.title,
            questions=organizer.questions,
            answers=organizer.answers,
            status=organizer.status,
            created_at=organizer.created_at,
            submitted_at=organizer.submitted_at,
        )


@strawberry.type(name="Message")
class MessageType(Node):
    subject: str
    body: str
    direction: MessageDirectionEnum = strawberry.field(
        description="OUTBOUND: from the firm to the client; INBOUND: the client's reply."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, message: Message) -> MessageType:
        return cls(
            id=encode_id("Message", message.id),
            subject=message.subject,
            body=message.body,
            direction=message.direction,
            created_at=message.created_at,
        )


@strawberry.type(name="Invoice")
class InvoiceType(Node):
    currency: str
    line_items: JSON
    total_cents: int
    status: InvoiceStatusEnum
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def from_model(cls, invoice: Invoice) -> InvoiceType:
        return cls(
            id=encode_id("Invoice", invoice.id),
            currency=invoice.currency,
            line_items=JSON(invoice.line_items),
            total_cents=invoice.total_cents,
            status=invoice.status,
            created_at=invoice.created_at,
            paid_at=invoice.paid_at,
        )
