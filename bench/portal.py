"""Scenario 7, the client portal: the answer time of a contact's page of jobs, the PORTAL
document of web/portal/portal.js (read from that file: the page's own query), at POST
/portal/graphql of a real `python server.py`, on SQLite and on PostgreSQL; one client, then 10
at once.

Seed, through the domain (workflow functions, each in its change, as staff and clients make
them): a firm whose client has a contact with portal access and JOBS jobs in the portal (2 of
them COMPLETED) plus 3 archived ones, each with 2 organizers (one submitted), 2 invoices of 3
line items (one paid) and 3 messages with one reply of the client's; neighbours (other clients
of the same firm, one with a portal contact and 2 jobs, the others with JOBS jobs), and another
firm where a contact has the same address, with JOBS jobs of its own. Every one of those has
the same documents. The contact signs in as a person does: requestPortalLink at the server,
the link token read from the queued email (models.keys.unseal, as the mailer does), signIn.

Floor: the same rows by hand-written SQL, one statement per level (the contact and its client;
the page of jobs with their stage names; organizers, invoices, messages of those jobs, paged
per job by a window function), shaped into the same answer (global ids included) and
serialized with orjson, in the benchmark's process, through the server's own drivers
(aiosqlite, asyncpg) over as many connections as there are clients. Its answer is checked to
hold the same ids, in the same order, as the server's.

Beside them, the staff API's nearest query (a client's first JOBS jobs with the same documents
at /graphql): executed (the firm's data version bumped before each, not timed) and answered
from the result cache (schema/result_cache.py). The portal has no result cache.

The timed servers run --no-runner: no mailer sends the seeded documents' emails (or the sign-in
link's, whose token the bench must read first) while the page is timed. SQL/req: on
PostgreSQL through bench.sqlcount's proxy (separate servers); on SQLite in-process, by
tortoise's statement log, through the same app (web.app.create_app). Each is counted for the
contact with JOBS jobs and the one with 2: the same number means it does not grow with the
jobs.

    python -m bench.portal [--quick]      this scenario alone (python -m bench portal, too)
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiosqlite
import asyncpg
import httpx
import orjson

from bench.http import GraphQL, GraphQLError, payload_errors
from bench.infra import BENCH_SECRET_KEY, PeakMemory
from bench.report import Row, per_second
from bench.sqlcount import PerRequest
from bench.suite import Suite
from models import JobStatus, Stage, keys
from models.db import close_database, open_database
from models.email import LINK_TOKEN_PURPOSE
from tests.databases import asyncpg_url, sqlite_folder
from tests.servers import ROOT
from workflow import clients, contacts, documents, jobs, pipelines, portal
from workflow.firms import create_firm
from workflow.global_ids import global_id
from workflow.portal_scope import PortalCaller
from workflow.scope import Scope

JOBS = 20  # the page PORTAL asks for (jobs(first: 20))
FEW_JOBS = 2  # the other portal contact's, for the statement count
ARCHIVED = 3  # more of the contact's jobs, out of the portal
COMPLETED = 2  # of the JOBS, in the portal all the same
CLIENTS = (1, 10)  # concurrent clients (the floor: as many connections)
ADDRESS = "avery@example.test"  # the contact's, also a contact's at the other firm
FEW_ADDRESS = "blake@example.test"


def portal_document() -> str:
    """The PORTAL query of the reference portal page, verbatim."""
    source = (ROOT / "web" / "portal" / "portal.js").read_text()
    found = re.search(r"const PORTAL = `(.*?)`;", source, re.S)
    assert found, "web/portal/portal.js has no PORTAL query"
    return found.group(1)


PORTAL = portal_document()
# The staff API's nearest: the client's first jobs with the same documents.
STAFF = """query Client($c: ID!) { client(id: $c) { name contacts { name email }
  jobs(first: 20) { edges { node { id title status dueDate stage { name portalName }
    organizers(first: 10) { edges { node { id title questions answers status submittedAt } } }
    invoices(first: 10) { edges { node { id currency totalCents status createdAt paidAt
      lineItems } } }
    messages(first: 20) { edges { node { id subject body direction createdAt } } } } } } } }"""
REQUEST_LINK = """mutation($email: String!) { requestPortalLink(input: {email: $email}) {
  message errors { code message } } }"""
SIGN_IN = """mutation($t: String!) { signIn(input: {linkToken: $t}) {
  token errors { code message } } }"""

STAGES = ("Intake", "Documents requested", "Preparation", "Review", "Signature", "Filing")
PORTAL_NAMES = {
    "Documents requested": "Waiting for your documents",
    "Preparation": "We are working on it",
    "Review": "We are working on it",
    "Signature": "Ready for your signature",
}
QUESTIONS = [
    "Did you receive any W-2 forms?",
    "Did you sell stocks or crypto?",
    "Any dependents born this year?",
    "Did you buy or sell a home?",
    "Any estimated tax payments?",
]
LINE_ITEMS = [
    {"description": "Form 1040 preparation", "quantity": 1, "unitPriceCents": 45000},
    {"description": "State return", "quantity": 1, "unitPriceCents": 15000},
    {"description": "Schedule C", "quantity": 2, "unitPriceCents": 7500},
]


# --- Seed ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A portal contact: its address and the row ids the floor and the checks need."""

    address: str
    firm_id: int
    client_id: int
    contact_id: int
    jobs: int  # in the portal


@dataclass(frozen=True)
class World:
    firm_id: int
    staff_token: str
    main: Contact  # JOBS jobs
    few: Contact  # FEW_JOBS jobs, same firm

    @property
    def client_gid(self) -> str:
        return global_id("Client", self.main.client_id)


async def _jobs_with_documents(
    scope: Scope,
    pipeline_id: int,
    stage_ids: list[int],
    caller: PortalCaller,
    count: int,
    name: str,
) -> list[int]:
    """`count` jobs of the caller's client spread over the stages, each with the documents
    of the module's description, made by the same workflow functions as the API's; the
    caller replies to the first message."""
    client_id = caller.client_id
    made = []
    for n in range(count):
        job = await jobs.create_job(
            scope,
            pipeline_id,
            client_id,
            f"{name} {2025 - n % 3} return #{n}",
            stage_id=stage_ids[n % len(stage_ids)],
            due_date=date(2026, 4, 15) if n % 2 else None,
        )
        first = await documents.send_organizer(scope, job.id, "Tax organizer", QUESTIONS)
        await documents.send_organizer(scope, job.id, "Follow-up questions", QUESTIONS[:2])
        await documents.submit_organizer(scope, first.id, ["Yes", "No", "No", "No", "Yes"])
        paid = await documents.create_invoice(scope, job.id, "USD", LINE_ITEMS)
        await documents.create_invoice(scope, job.id, "USD", LINE_ITEMS[:1])
        await documents.pay_invoice(scope, paid.id)
        message = await documents.send_message(
            scope, job.id, "About your {job.title}", "Hello {client.name}, we started."
        )
        await documents.send_message(scope, job.id, "Documents", "Please upload your W-2.")
        await documents.send_message(scope, job.id, "Review", "Your draft is ready to review.")
        await portal.reply_to_message(caller, message.id, "Thank you, uploading tonight.")
        made.append(job.id)
    return made


async def _portal_client(
    scope: Scope,
    pipeline_id: int,
    stage_ids: list[int],
    name: str,
    address: str,
    count: int,
) -> tuple[int, int, list[int]]:
    """A client with a contact with portal access at `address`, another without (its
    bookkeeper, who gets the emails all the same), and `count` jobs with documents:
    (client, contact, jobs)."""
    client = await clients.create_client(scope, name, address, ["individual"])
    contact = await contacts.create_contact(scope, client.id, name, address, True)
    await contacts.create_contact(
        scope, client.id, f"{name} (bookkeeper)", f"books-{client.id}@example.test"
    )
    caller = PortalCaller(scope.firm_id, client.id, contact.id, session_id=0)
    made = await _jobs_with_documents(scope, pipeline_id, stage_ids, caller, count, name)
    return client.id, contact.id, made


async def _board(scope: Scope) -> tuple[int, list[int]]:
    pipeline = await pipelines.create_pipeline(scope, "1040 Return", list(STAGES))
    stages = await Stage.filter(pipeline_id=pipeline.id).order_by("position")
    for stage in stages:
        if stage.name in PORTAL_NAMES:
            await pipelines.update_stage(scope, stage.id, portal_name=PORTAL_NAMES[stage.name])
    return pipeline.id, [stage.id for stage in stages]


async def seed(database_url: str, neighbours: int) -> World:
    """The portal's world in a migrated database (migrated here if it is not)."""
    await open_database(database_url, secret_key=BENCH_SECRET_KEY)
    try:
        firm = await create_firm("Portal Bench CPA", "owner@portal-bench.test", "Pat Owner")
        scope = Scope(firm.firm.id, firm.owner.id)
        pipeline_id, stage_ids = await _board(scope)
        client_id, contact_id, made = await _portal_client(
            scope, pipeline_id, stage_ids, "Avery Johnson", ADDRESS, JOBS + ARCHIVED
        )
        for job_id in made[:ARCHIVED]:
            await jobs.archive_job(scope, job_id)
        for job_id in made[ARCHIVED : ARCHIVED + COMPLETED]:
            await jobs.update_job(scope, job_id, status=JobStatus.COMPLETED)
        few_client, few_contact, _ = await _portal_client(
            scope, pipeline_id, stage_ids, "Blake Lee", FEW_ADDRESS, FEW_JOBS
        )
        for n in range(neighbours):
            address = f"neighbour{n}@example.test"
            await _portal_client(scope, pipeline_id, stage_ids, f"Neighbour {n}", address, JOBS)
        other = await create_firm("Other Bench CPA", "owner@other-bench.test", "Olive Owner")
        other_scope = Scope(other.firm.id, other.owner.id)
        other_pipeline, other_stages = await _board(other_scope)
        await _portal_client(other_scope, other_pipeline, other_stages, "Avery J.", ADDRESS, JOBS)
    finally:
        await close_database()
    return World(
        firm.firm.id,
        firm.token,
        Contact(ADDRESS, firm.firm.id, client_id, contact_id, JOBS),
        Contact(FEW_ADDRESS, firm.firm.id, few_client, few_contact, FEW_JOBS),
    )


# --- The floor's connections --------------------------------------------------------------


class Database:
    """One connection through the server's own driver: asyncpg, or aiosqlite. Statements are
    written with $1, $2... each used once, in order; `{ids}`: "is one of the list $3"."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._pg: Any = None
        self._lite: aiosqlite.Connection | None = None
        self._texts: dict[str, str] = {}

    async def __aenter__(self) -> Database:
        if self.sqlite:
            self._lite = await aiosqlite.connect(self.url.removeprefix("sqlite://"))
            self._lite.row_factory = aiosqlite.Row
        else:
            self._pg = await asyncpg.connect(asyncpg_url(self.url))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._lite is not None:
            await self._lite.close()
        if self._pg is not None:
            await self._pg.close()

    def text(self, sql: str) -> str:
        if sql not in self._texts:
            if self.sqlite:
                text = sql.replace("{ids}", "IN (SELECT value FROM json_each($3))")
                self._texts[sql] = re.sub(r"\$[0-9]+", "?", text)
            else:
                self._texts[sql] = sql.replace("{ids}", "= ANY($3)")
        return self._texts[sql]

    async def fetch(self, sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
        text = self.text(sql)
        if self.sqlite:
            assert self._lite is not None
            values = [orjson.dumps(a).decode() if isinstance(a, list) else a for a in args]
            async with self._lite.execute(text, values) as cursor:
                return list(await cursor.fetchall())
        return await self._pg.fetch(text, *args)  # type: ignore[no-any-return]

    async def execute(self, sql: str, *args: Any) -> None:
        text = self.text(sql)
        if self.sqlite:
            assert self._lite is not None
            await self._lite.execute(text, args)
            await self._lite.commit()
        else:
            await self._pg.execute(text, *args)


ME = """SELECT c.name, c.email, cl.name AS client_name FROM contact c
  JOIN client cl ON cl.id = c.client_id WHERE c.id = $1 AND c.firm_id = $2"""
PAGE = """SELECT j.id, j.title, j.status, j.due_date,
  COALESCE(NULLIF(s.portal_name, ''), s.name) AS stage_name
FROM job j JOIN stage s ON s.id = j.stage_id
WHERE j.firm_id = $1 AND j.client_id = $2 AND j.status IN ('ACTIVE', 'COMPLETED')
ORDER BY j.id LIMIT $3"""


def per_job(table: str, columns: str) -> str:
    """A job's first documents, for every job of the page at once."""
    return f"""SELECT job_id, {columns} FROM (
  SELECT job_id, {columns}, row_number() OVER (PARTITION BY job_id ORDER BY id) AS n
  FROM {table} WHERE firm_id = $1 AND client_id = $2 AND job_id {{ids}}) AS page
WHERE n <= $4 ORDER BY job_id, id"""


ORGANIZERS = per_job("organizer", "id, title, questions, answers, status, submitted_at")
INVOICES = per_job("invoice", "id, currency, total_cents, status, created_at, paid_at, line_items")
MESSAGES = per_job("message", "id, subject, body, direction, created_at")


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _grouped(rows: Sequence[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["job_id"], []).append(row)
    return grouped


def _edges(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"edges": [{"node": node} for node in nodes]}


async def floor_page(db: Database, contact: Contact) -> dict[str, Any]:
    """The PORTAL answer by one statement per level."""
    firm, client = contact.firm_id, contact.client_id
    me = (await db.fetch(ME, contact.contact_id, firm))[0]
    page = await db.fetch(PAGE, firm, client, JOBS)
    ids = [row["id"] for row in page]
    organizers = _grouped(await db.fetch(ORGANIZERS, firm, client, ids, 10))
    invoices = _grouped(await db.fetch(INVOICES, firm, client, ids, 10))
    messages = _grouped(await db.fetch(MESSAGES, firm, client, ids, 20))
    return {
        "me": {"name": me["name"], "email": me["email"], "client": {"name": me["client_name"]}},
        "jobs": _edges(
            [
                {
                    "id": global_id("Job", job["id"]),
                    "title": job["title"],
                    "status": job["status"],
                    "stageName": job["stage_name"],
                    "dueDate": job["due_date"],
                    "organizers": _edges(
                        [
                            {
                                "id": global_id("Organizer", o["id"]),
                                "title": o["title"],
                                "questions": _json(o["questions"]),
                                "answers": _json(o["answers"]),
                                "status": o["status"],
                                "submittedAt": o["submitted_at"],
                            }
                            for o in organizers.get(job["id"], ())
                        ]
                    ),
                    "invoices": _edges(
                        [
                            {
                                "id": global_id("Invoice", i["id"]),
                                "currency": i["currency"],
                                "totalCents": i["total_cents"],
                                "status": i["status"],
                                "createdAt": i["created_at"],
                                "paidAt": i["paid_at"],
                                "lineItems": [
                                    {
                                        "description": item["description"],
                                        "quantity": item.get("quantity") or 1,
                                        "unitPriceCents": item["unitPriceCents"],
                                        "amountCents": (item.get("quantity") or 1)
                                        * item["unitPriceCents"],
                                    }
                                    for item in _json(i["line_items"])
                                ],
                            }
                            for i in invoices.get(job["id"], ())
                        ]
                    ),
                    "messages": _edges(
                        [
                            {
                                "id": global_id("Message", m["id"]),
                                "subject": m["subject"],
                                "body": m["body"],
                                "direction": m["direction"],
                                "createdAt": m["created_at"],
                            }
                            for m in messages.get(job["id"], ())
                        ]
                    ),
                }
                for job in page
            ]
        ),
    }


def ids(answer: Any) -> list[str]:
    """Every id of an answer, in order."""
    if isinstance(answer, dict):
        found = [answer["id"]] if "id" in answer else []
        return found + [i for key, value in answer.items() if key != "id" for i in ids(value)]
    if isinstance(answer, list):
        return [i for value in answer for i in ids(value)]
    return []


def check(data: dict[str, Any], contact: Contact) -> None:
    """A whole page: every job, every document the seed made (a page of each)."""
    page = [edge["node"] for edge in data["jobs"]["edges"]]
    assert len(page) == contact.jobs, f"{len(page)} jobs in the page, not {contact.jobs}"
    for job in page:
        counts = [len(job[k]["edges"]) for k in ("organizers", "invoices", "messages")]
        assert counts == [2, 2, 4], f"a job's documents: {counts}"


async def floor(url: str, contact: Contact, clients: int, requests: int, label: str) -> Row:
    latencies: list[float] = []

    async def connection(count: int) -> None:
        async with Database(url) as db:
            for n in range(count + 1):
                started = time.perf_counter()
                orjson.dumps(await floor_page(db, contact))
                if n:  # warm-up: statement caches, pages
                    latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(connection(requests // clients) for _ in range(clients)))
    seconds = time.perf_counter() - started
    return Row(
        f"floor: portal page by 5 SQL statements + orjson, {label}, {clients} conn.",
        latencies,
        throughput=per_second(len(latencies), seconds),
        sql="5",
    )


# --- Signing in and timing ----------------------------------------------------------------


async def sign_in(server_url: str, database_url: str, contact: Contact) -> str:
    """A portal session token of the contact's, as a person gets one: a link requested at the
    server, its token read from the queued email as the mailer reads it, signIn."""
    async with GraphQL(server_url, None, "/portal/graphql") as http:
        _, data = await http.timed(REQUEST_LINK, email=contact.address)
        assert not payload_errors(data), data
        sealed = await _link_email(database_url, contact)
        token = keys.unseal(sealed, LINK_TOKEN_PURPOSE)
        assert token is not None, "the link email's token does not unseal"
        _, data = await http.timed(SIGN_IN, t=token.decode())
        assert not payload_errors(data), data
        return str(data["signIn"]["token"])


async def _link_email(database_url: str, contact: Contact, within: float = 30) -> str:
    """The sealed token of the contact's newest link email, once the server has written it
    (a link request is answered before its email is written)."""
    deadline = time.monotonic() + within
    async with Database(database_url) as db:
        while True:
            rows = await db.fetch(
                "SELECT sealed_secret FROM email WHERE firm_id = $1 AND contact_id = $2 "
                "AND kind = 'PORTAL_LINK' AND sealed_secret IS NOT NULL ORDER BY id DESC LIMIT 1",
                contact.firm_id,
                contact.contact_id,
            )
            if rows:
                return str(rows[0]["sealed_secret"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"no sign-in link email within {within:g} s")
            await asyncio.sleep(0.05)


async def load(
    url: str, token: str, path: str, query: str, clients: int, requests: int, **variables: Any
) -> tuple[list[float], float]:
    """Latencies of `requests` requests by `clients` concurrent clients, and the seconds the
    lot took."""
    latencies: list[float] = []

    async def client(count: int) -> None:
        async with GraphQL(url, token, path) as http:
            for _ in range(count):
                elapsed, _ = await http.timed(query, **variables)
                latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    return latencies, time.perf_counter() - started


BUMP = "UPDATE firm SET catalog_version = catalog_version + 1 WHERE id = $1"


async def staff_after_changes(
    url: str, database_url: str, world: World, requests: int
) -> list[float]:
    """The staff query, each request after a change of the firm's data version (not timed),
    so that none is answered from the result cache."""
    latencies = []
    async with Database(database_url) as db, GraphQL(url, world.staff_token) as http:
        for _ in range(requests):
            await db.execute(BUMP, world.firm_id)
            elapsed, _ = await http.timed(STAFF, c=world.client_gid)
            latencies.append(elapsed)
    return latencies


# --- Counting statements ------------------------------------------------------------------


@dataclass
class Counts:
    portal: str  # per page: "N", or "N (JOBS jobs), M (FEW_JOBS jobs)" if they differ
    staff: str  # per staff query, executed
    staff_cached: str  # per staff query answered from the result cache


def counted(main: PerRequest | int, few: PerRequest | int) -> str:
    if str(main) == str(few):
        return str(main)
    return f"{main} ({JOBS} jobs), {few} ({FEW_JOBS} jobs)"


async def count_postgres(suite: Suite, world: World, tokens: dict[str, str]) -> Counts:
    """Statements per request on a counting server (bench.sqlcount's proxy)."""
    counting = await suite.counting()
    url, times = counting.servers[0].url, suite.plan.count_requests
    per: dict[str, PerRequest] = {}
    for name, contact in (("main", world.main), ("few", world.few)):
        async with GraphQL(url, tokens[contact.address], "/portal/graphql") as http:
            await http.timed(PORTAL)  # a process's first request loads more

            async def pages(http: GraphQL = http) -> None:
                for _ in range(times):
                    await http.timed(PORTAL)

            per[name] = await counting.per_request(times, pages)
    async with GraphQL(url, world.staff_token) as http, Database(suite.database_url) as db:
        await http.timed(STAFF, c=world.client_gid)

        async def staff(changed: bool) -> None:
            for _ in range(times):
                if changed:
                    await db.execute(BUMP, world.firm_id)  # through no proxy: not counted
                await http.timed(STAFF, c=world.client_gid)

        executed = await counting.per_request(times, lambda: staff(True))
        cached = await counting.per_request(times, lambda: staff(False))
    return Counts(counted(per["main"], per["few"]), str(executed), str(cached))


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@asynccontextmanager
async def _app(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this process, on the database (which it does not open itself)."""
    import settings as settings_module
    from web.app import create_app

    config = settings_module.load(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": BENCH_SECRET_KEY,
            "RATE_LIMIT_COST_PER_MINUTE": "0",
            "FIRM_RATE_LIMIT_COST_PER_MINUTE": "0",
        }
    )
    await open_database(database_url, migrate=False, secret_key=BENCH_SECRET_KEY)
    try:
        app = create_app(config, own_database=False, runner=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            yield http
    finally:
        await close_database()


async def count_in_process(database_url: str, world: World, tokens: dict[str, str]) -> Counts:
    """Statements per request by tortoise's statement log, the app in this process (SQLite:
    there is no wire to count on)."""
    logger = logging.getLogger("tortoise.db_client")
    statements, level = _Statements(), logger.level
    async with _app(database_url) as http:

        async def statements_of(
            path: str, token: str, query: str, changed: bool = False, **variables: Any
        ) -> int:
            async def once() -> None:
                if changed:
                    async with Database(database_url) as db:
                        await db.execute(BUMP, world.firm_id)
                response = await http.post(
                    path,
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise GraphQLError(f"HTTP {response.status_code}: {str(body)[:300]}")

            await once()  # a session's first use is noted; the first of a version reads more
            statements.count = 0
            await once()
            return statements.count

        logger.addHandler(statements)
        logger.setLevel(logging.DEBUG)
        try:
            main = await statements_of("/portal/graphql", tokens[ADDRESS], PORTAL)
            few = await statements_of("/portal/graphql", tokens[FEW_ADDRESS], PORTAL)
            client = world.client_gid
            staff = await statements_of("/graphql", world.staff_token, STAFF, True, c=client)
            cached = await statements_of("/graphql", world.staff_token, STAFF, c=client)
        finally:
            logger.removeHandler(statements)
            logger.setLevel(level)
    return Counts(counted(main, few), str(staff), str(cached))


# --- The scenario -------------------------------------------------------------------------


async def backend(suite: Suite, label: str, database_url: str, redis_url: str | None) -> list[Row]:
    requests = suite.plan.portal_requests
    started = time.perf_counter()
    world = await seed(database_url, suite.plan.portal_neighbours)
    print(f"portal, {label}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
    floors = {
        clients: await floor(database_url, world.main, clients, requests, label)
        for clients in CLIENTS
    }
    rows: list[Row] = list(floors.values())
    timed: list[Row] = []
    args = ("--no-runner",)
    async with (
        suite.servers(
            1, f"portal-{label}", *args, database_url=database_url, redis_url=redis_url
        ) as [server],
        PeakMemory([server.pid]) as memory,
    ):
        tokens = {
            c.address: await sign_in(server.url, database_url, c) for c in (world.main, world.few)
        }
        token = tokens[ADDRESS]
        async with GraphQL(server.url, token, "/portal/graphql") as http:
            _, answer = await http.timed(PORTAL)
        check(answer, world.main)
        async with Database(database_url) as db:
            by_hand = await floor_page(db, world.main)
        assert ids(by_hand) == ids(answer), "the floor's rows are not the portal's"
        await load(server.url, token, "/portal/graphql", PORTAL, 1, 5)  # warm-up
        for clients in CLIENTS:
            latencies, seconds = await load(
                server.url, token, "/portal/graphql", PORTAL, clients, requests
            )
            timed.append(
                Row(
                    f"portal page, {label}, {clients} client{'s' * (clients > 1)}",
                    latencies,
                    throughput=per_second(len(latencies), seconds),
                    floor=floors[clients],
                )
            )
        latencies = await staff_after_changes(server.url, database_url, world, requests)
        timed.append(
            Row(
                f"staff: client's jobs after a change, {label}, 1 client",
                latencies,
                floor=floors[1],
            )
        )
        latencies, seconds = await load(
            server.url, world.staff_token, "/graphql", STAFF, 1, requests, c=world.client_gid
        )
        timed.append(
            Row(
                f"staff: client's jobs, cached, {label}, 1 client",
                latencies,
                throughput=per_second(len(latencies), seconds),
                floor=floors[1],
            )
        )
    if database_url.startswith("sqlite"):
        counts = await count_in_process(database_url, world, tokens)
    else:
        counts = await count_postgres(suite, world, tokens)
    for row, sql in zip(
        timed, (counts.portal, counts.portal, counts.staff, counts.staff_cached), strict=True
    ):
        row.peak_rss_mb, row.sql = memory.peak_mb, sql
    return rows + timed


async def run(suite: Suite) -> list[Row]:
    keys.use_master_key(BENCH_SECRET_KEY.encode())  # the servers' ids
    with sqlite_folder(suite.log_dir) as folder:
        rows = await backend(suite, "SQLite", f"sqlite://{folder / 'portal.sqlite3'}", "")
    return rows + await backend(suite, "PostgreSQL", suite.database_url, None)


def main() -> None:
    from bench.__main__ import main as bench

    bench(["portal", *sys.argv[1:]])


if __name__ == "__main__":
    main()
