"""Small builders of test data through the domain operations (the same path as the API)."""

from __future__ import annotations

from models import Client, Job, Pipeline, Stage
from schema.node import encode_id
from workflow import clients, jobs, pipelines
from workflow.firms import NewFirm
from workflow.scope import Scope


def scope_of(firm: NewFirm) -> Scope:
    return Scope(firm_id=firm.firm.id, user_id=firm.owner.id)


async def board(
    firm: NewFirm,
    stages: tuple[str, ...] = ("Review Docs", "Prepare Return", "Review"),
    name: str = "1040 Return",
) -> tuple[Pipeline, list[Stage]]:
    pipeline = await pipelines.create_pipeline(scope_of(firm), name, list(stages))
    return pipeline, list(await Stage.filter(pipeline_id=pipeline.id).order_by("position"))


async def client(firm: NewFirm, name: str = "Avery Johnson") -> Client:
    return await clients.create_client(scope_of(firm), name, "avery@example.test", ["individual"])


async def job(
    firm: NewFirm, pipeline: Pipeline, client_: Client, title: str = "2025 return"
) -> Job:
    return await jobs.create_job(scope_of(firm), pipeline.id, client_.id, title)


def gid(type_name: str, pk: int) -> str:
    return str(encode_id(type_name, pk))
