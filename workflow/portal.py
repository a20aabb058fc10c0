"""What a signed-in contact does in the client portal: reads its client's jobs and their
organizers, invoices and messages, answers organizers (a draft, then the submission) and
replies to messages. The loop closes here: a submission completes the stage's auto-move
exactly as the staff mutation does, and stops the organizer's reminders.

Every function takes a PortalCaller and sees only its client's data. A job is the client's
while it is ACTIVE or COMPLETED (an archived job leaves the portal); an organizer, invoice or
message is the client's when it was sent to the client and its job is still one of the
client's (a job given to another client takes its past documents with it out of both portals).
An id of anything else - another client of the same firm, another firm, an archived job, no
row at all - answers NOT_FOUND with the same message and field: nothing tells them apart.

Writes run in one change each (workflow.unit), as the system with the contact named in the
event's changes:
- saveOrganizerAnswers keeps a draft: the answers are stored, the organizer stays SENT (its
  reminders go on, it still holds the stage's auto-move), and the job's history records
  ORGANIZER_CHANGED with action "saved" (staff see the client started; a save that changes no
  answer writes nothing and records nothing). Refused once the organizer is SUBMITTED.
- submitOrganizer records CLIENT_SUBMITTED_ORGANIZER, clears next_reminder_at and runs the
  auto-move; a second submission is refused.
- replyToMessage writes an INBOUND message on the job (in reply to the one answered) and
  records CLIENT_REPLIED.
Input is checked before anything is read: answers one per question, each at most
ANSWER_MAX characters, a reply body of 1 to BODY_MAX characters, no control characters but
newlines and tabs. Text is stored as written (HTML and script included: it is escaped where it
is shown, never interpreted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models import (
    Contact,
    EventType,
    Invoice,
    Job,
    JobStatus,
    Message,
    MessageDirection,
    Organizer,
    OrganizerStatus,
    Stage,
    rows,
)
from workflow import clock, validation
from workflow.automove import auto_move_if_done
from workflow.documents import MESSAGE_BODY_MAX, MESSAGE_SUBJECT_MAX
from workflow.errors import DomainError, ErrorCode, invalid, not_found
from workflow.portal_scope import PortalCaller
from workflow.scope import MAX_ROW_ID
from workflow.unit import Change, change

Document = TypeVar("Document", Organizer, Invoice, Message)

VISIBLE_STATUSES = (JobStatus.ACTIVE, JobStatus.COMPLETED)
ANSWER_MAX = 10_000  # characters of one answer
MAX_ANSWERS = 200  # an organizer has at most 200 questions (SEND_ORGANIZER's settings)
BODY_MAX = MESSAGE_BODY_MAX  # characters of a reply, as of a message staff write


# Reads


def jobs(caller: PortalCaller) -> QuerySet[Job]:
    """The client's jobs: ACTIVE and COMPLETED, never archived ones."""
    return Job.filter(
        firm_id=caller.firm_id, client_id=caller.client_id, status__in=VISIBLE_STATUSES
    )


def documents(caller: PortalCaller, model: type[Document]) -> QuerySet[Document]:
    """The client's organizers, invoices or messages: sent to the client, on one of its jobs."""
    return model.filter(
        firm_id=caller.firm_id,
        client_id=caller.client_id,
        job_id__in=Subquery(jobs(caller).values("id")),
    )


def _visible_job(caller: PortalCaller, job: Job) -> bool:
    return (
        job.firm_id == caller.firm_id
        and job.client_id == caller.client_id
        and job.status in VISIBLE_STATUSES
    )


def _visible_document(caller: PortalCaller, item: Organizer | Invoice | Message, job: Job) -> bool:
    return (
        item.job_id == job.id and item.client_id == caller.client_id and _visible_job(caller, job)
    )


async def job(caller: PortalCaller, job_id: int, field: str = "id") -> Job:
    """One of the client's jobs, or NOT_FOUND."""
    if not 0 < job_id <= MAX_ROW_ID:
        raise not_found("Job", field)
    found = await jobs(caller).get_or_none(id=job_id)
    if found is None:
        raise not_found("Job", field)
    return found


async def document(
    caller: PortalCaller, model: type[Document], item_id: int, field: str = "id"
) -> Document:
    """One of the client's organizers, invoices or messages, or NOT_FOUND."""
    if not 0 < item_id <= MAX_ROW_ID:
        raise not_found(model.__name__, field)
    found = await documents(caller, model).get_or_none(id=item_id)
    if found is None:
        raise not_found(model.__name__, field)
    return found


async def _visible_job_ids(caller: PortalCaller, job_ids: Sequence[int]) -> list[int]:
    wanted = sorted({pk for pk in job_ids if 0 < pk <= MAX_ROW_ID})
    if not wanted:
        return []
    found = await jobs(caller).filter(id__in=wanted).order_by("id").values_list("id", flat=True)
    return [int(pk) for pk in found]  # type: ignore[call-overload]


async def documents_of_jobs(
    caller: PortalCaller,
    model: type[Document],
    job_ids: Sequence[int],
    limit: int,
    after: int | None = None,
) -> dict[int, list[Document]]:
    """Up to `limit` organizers, invoices or messages of each of the client's jobs among
    `job_ids`, oldest first (after the id `after`): two statements whatever the number of
    jobs. The jobs that are not the client's have none."""
    visible = await _visible_job_ids(caller, job_ids)
    if not visible or limit <= 0:
        return {}
    return await rows.fetch_pages(
        model,
        firm_id=caller.firm_id,
        parent_column="job_id",
        parent_ids=visible,
        order_column="id",
        limit=limit,
        after=after,
        where_in={"client_id": [caller.client_id]},
    )


async def count_documents_of_jobs(
    caller: PortalCaller, model: type[Document], job_ids: Sequence[int]
) -> dict[int, int]:
    """How many organizers, invoices or messages each of the client's jobs among `job_ids`
    has (a job with none is left out)."""
    visible = await _visible_job_ids(caller, job_ids)
    if not visible:
        return {}
    query = model.filter(firm_id=caller.firm_id, client_id=caller.client_id, job_id__in=visible)
    rows = await query.annotate(n=Count("id")).group_by("job_id").values("job_id", "n")
    return {row["job_id"]: row["n"] for row in rows}


async def stage_names(caller: PortalCaller, stage_ids: Sequence[int]) -> dict[int, str]:
    """What the client sees of each stage: its portal name, or else its name."""
    if not stage_ids:
        return {}
    rows = await Stage.filter(firm_id=caller.firm_id, id__in=sorted(set(stage_ids))).values(
        "id", "name", "portal_name"
    )
    return {row["id"]: row["portal_name"] or row["name"] for row in rows}


# Input


def _answers(answers: Any) -> list[str]:
    if not isinstance(answers, list) or len(answers) > MAX_ANSWERS:
        raise invalid("answers", f"answers is a list of at most {MAX_ANSWERS} answers")
    for answer in answers:
        if not isinstance(answer, str):
            raise invalid("answers", "every answer is a string")
        validation.text(answer, "answers", ANSWER_MAX)
    return list(answers)


def _body(body: Any) -> str:
    if not isinstance(body, str):
        raise invalid("body", "body is a string")
    validation.text(body, "body", BODY_MAX)
    if not body.strip():
        raise invalid("body", "body must not be empty")
    return body


def reply_subject(subject: str) -> str:
    """The subject of a reply: "Re: " once before the subject answered."""
    base = subject
    while base[:4].lower() == "re: ":
        base = base[4:]
    return f"Re: {base}"[:MESSAGE_SUBJECT_MAX]


# Writes


async def _check_contact(caller: PortalCaller) -> None:
    """The contact may still use the portal (a contact deleted, moved or without access
    since the session was checked writes nothing)."""
    if not await Contact.filter(
        id=caller.contact_id,
        firm_id=caller.firm_id,
        client_id=caller.client_id,
        portal_access=True,
    ).exists():
        raise DomainError(ErrorCode.UNAUTHENTICATED, "portal access was withdrawn")


async def _lock(
    unit: Change, caller: PortalCaller, model: type[Document], item_id: int, field: str
) -> tuple[Document, Job]:
    """Lock one of the client's documents after its job (as every change locks), checked
    again under the lock; NOT_FOUND, the same whatever the reason, otherwise."""
    await document(caller, model, item_id, field)  # before locking anything
    try:
        item = await caller.scope.get(model, item_id, field=field)
        locked_job = await unit.lock_job(item.job_id, field=field)
        item = await caller.scope.get(model, item_id, field=field, lock=True)
    except DomainError as error:
        if error.code == ErrorCode.NOT_FOUND:
            raise not_found(model.__name__, field) from None
        raise
    if not _visible_document(caller, item, locked_job):
        raise not_found(model.__name__, field)
    return item, locked_job


def _check_count(organizer: Organizer, answers: list[str]) -> None:
    if organizer.status == OrganizerStatus.SUBMITTED:
        raise invalid("organizerId", "the organizer is already submitted")
    if len(answers) != len(organizer.questions):
        raise invalid("answers", f"{len(organizer.questions)} answers are expected")


async def save_organizer_answers(
    caller: PortalCaller, organizer_id: int, answers: list[str]
) -> Organizer:
    """Keep the client's answers as a draft: the organizer stays SENT."""
    answers = _answers(answers)
    current = await document(caller, Organizer, organizer_id, "organizerId")
    _check_count(current, answers)
    await _check_contact(caller)
    if current.answers == answers:
        return current  # the same draft again: nothing written, nothing recorded
    async with change(caller.scope) as unit:
        organizer, locked_job = await _lock(unit, caller, Organizer, organizer_id, "organizerId")
        _check_count(organizer, answers)
        await _check_contact(caller)
        organizer.answers = answers
        await organizer.save(update_fields=["answers"])
        await unit.record(
            locked_job.pipeline_id,
            EventType.ORGANIZER_CHANGED,
            locked_job,
            changes={"organizer": organizer.id, "action": "saved", "contact": caller.contact_id},
        )
    return organizer


async def submit_organizer(
    caller: PortalCaller, organizer_id: int, answers: list[str]
) -> Organizer:
    """The client's answers, final: SUBMITTED, reminders stopped; may complete the stage's
    work (auto-move, exactly as staff's submitOrganizer)."""
    answers = _answers(answers)
    async with change(caller.scope) as unit:
        organizer, locked_job = await _lock(unit, caller, Organizer, organizer_id, "organizerId")
        _check_count(organizer, answers)
        await _check_contact(caller)
        organizer.status, organizer.answers = OrganizerStatus.SUBMITTED, answers
        organizer.submitted_at = clock.now()
        organizer.next_reminder_at = None
        await organizer.save(
            update_fields=["status", "answers", "submitted_at", "next_reminder_at"]
        )
        unit.defer_sequences()  # an auto-move may write a rank after the event (workflow.unit)
        await unit.record(
            locked_job.pipeline_id,
            EventType.CLIENT_SUBMITTED_ORGANIZER,
            locked_job,
            changes={"organizer": organizer.id, "contact": caller.contact_id},
        )
        await auto_move_if_done(unit, locked_job)
    return organizer


async def reply_to_message(caller: PortalCaller, message_id: int, body: str) -> Message:
    """The client's reply: an INBOUND message on the job, in reply to `message_id`."""
    body = _body(body)
    async with change(caller.scope) as unit:
        answered, locked_job = await _lock(unit, caller, Message, message_id, "messageId")
        await _check_contact(caller)
        reply = await Message.create(
            firm_id=caller.firm_id,
            job_id=locked_job.id,
            client_id=caller.client_id,
            subject=reply_subject(answered.subject),
            body=body,
            direction=MessageDirection.INBOUND,
            contact_id=caller.contact_id,
            in_reply_to_id=answered.id,
        )
        await unit.record(
            locked_job.pipeline_id,
            EventType.CLIENT_REPLIED,
            locked_job,
            changes={
                "message": reply.id,
                "in_reply_to": answered.id,
                "contact": caller.contact_id,
            },
        )
    return reply
