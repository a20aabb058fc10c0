"""Every example in the README and the docs runs, as written, against the demo data.

A real `python server.py` (SQLite, seeded by `python server.py demo`, as the README says) and
the demo owner's token. Every ```graphql block of README.md, docs/*.md, bench/README.md and
tests/reliability/README.md is one test case, found by reading the files: a new block is run
without being registered here.
- queries and mutations go over HTTP: no `errors`, and every mutation payload's `errors` empty;
- subscriptions go over the websocket: the first event arrives after a move on the board it
  watches, and, when the example takes `after`, subscribing again from that event's cursor
  delivers the move made while away;
- variables come from the demo data (VARIABLES, by file and operation name), chosen from the
  answer of the README's board query; an example that needs a variable not given there fails.
```graphql portal blocks (docs/portal.md) are the client portal's: each is valid against the
portal schema, and together they are the portal flow (sign in, read the client's jobs, answer
the demo's organizer and reply to its message), run in order at the demo server's
/portal/graphql for the contact of the demo client that has them (PORTAL_FLOW).
```python blocks are run and what they define is checked (PYTHON_CHECKS); ```json blocks must
parse. A block in any other language fails, until this file says how it is checked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    FieldNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    validate,
)

from api.portal import portal_schema
from models import keys
from models.email import LINK_TOKEN_PURPOSE
from tests.live import Subscription
from tests.markdown import ROOT, Block, documents, fenced_blocks
from tests.servers import ServerProcess, post_graphql
from webhooks import signing

# How each language's blocks are checked (``` with no language: sample output, not run).
LANGUAGES = {"graphql", "graphql portal", "python", "json", "sh", ""}


def blocks(language: str) -> list[Block]:
    return [b for path in documents() for b in fenced_blocks(path) if b.info == language]


@dataclass(frozen=True)
class Example:
    block: Block
    operation: OperationDefinitionNode

    @property
    def key(self) -> str:
        """How VARIABLES names it: the file and the operation's name."""
        name = self.operation.name.value if self.operation.name else "anonymous"
        return f"{self.block.path.relative_to(ROOT)}#{name}"

    @property
    def required_variables(self) -> set[str]:
        return {
            v.variable.name.value
            for v in self.operation.variable_definitions or ()
            if isinstance(v.type, NonNullTypeNode) and v.default_value is None
        }

    def variable_of(self, argument: str) -> str | None:
        """The variable the root field takes as `argument`, if any."""
        field = self.operation.selection_set.selections[0]
        assert isinstance(field, FieldNode)
        for arg in field.arguments or ():
            if arg.name.value == argument and isinstance(arg.value, VariableNode):
                return arg.value.name.value
        return None


def examples(language: str = "graphql") -> list[Example]:
    found: list[Example] = []
    for block in blocks(language):
        document = parse(block.text)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        assert len(operations) == len(document.definitions) == 1, (
            f"{block.where}: an example is one operation"
        )
        found.append(Example(block, operations[0]))
    return found


class Demo:
    """The demo firm on a running server, as its owner."""

    def __init__(self, server: ServerProcess, token: str, database: Path) -> None:
        self.server, self.token, self.database = server, token, database

    def post(self, query: str, **variables: Any) -> dict[str, Any]:
        return post_graphql(self.server.url, self.token, query, **variables)

    def board(self) -> dict[str, Any]:
        """The first pipeline, as the README's board query answers it."""
        (readme_board,) = [e for e in examples() if e.key == "README.md#Board"]
        body = self.post(readme_board.block.text)
        assert "errors" not in body, body
        pipeline: dict[str, Any] = body["data"]["pipelines"]["edges"][0]["node"]
        return pipeline

    def a_move(self) -> dict[str, Any]:
        """A card to drag, from the board's answer: the one changed most (its version is not
        1: a literal version in an example would be stale), to the next stage, after that
        stage's last card (null: it is empty)."""
        stages = self.board()["stages"]
        cards = [(s, e["node"]) for s, stage in enumerate(stages) for e in stage["jobs"]["edges"]]
        source, job = max(cards, key=lambda card: int(card[1]["version"]))
        assert job["version"] > 1, "the demo's cards have all moved or changed since made"
        target = stages[(source + 1) % len(stages)]
        last = target["jobs"]["edges"][-1]["node"]["id"] if target["jobs"]["edges"] else None
        return {
            "job": job["id"],
            "stage": target["id"],
            "after": last,
            "version": job["version"],
        }

    def move(self) -> str:
        """Make a move on the first pipeline's board; the job moved."""
        move = self.a_move()
        body = self.post(
            """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
            errors { code } } }""",
            j=move["job"],
            s=move["stage"],
        )
        assert body == {"data": {"moveJob": {"errors": []}}}, body
        return str(move["job"])


def move_variables(demo: Demo) -> dict[str, Any]:
    move = demo.a_move()
    return {k: move[k] for k in ("job", "stage", "after", "version")}


def pipeline_id(demo: Demo) -> str:
    return str(demo.board()["id"])


# The variables of the examples that take some, by file and operation name.
VARIABLES: dict[str, Callable[[Demo], dict[str, Any]]] = {
    "README.md#Move": move_variables,
    "README.md#LiveBoard": lambda demo: {"pipelineId": pipeline_id(demo)},
    "docs/integrations.md#BoardUpdates": lambda demo: {"p": pipeline_id(demo)},
    "docs/integrations.md#Register": lambda demo: {"pipeline": pipeline_id(demo)},
    "docs/api.md#StartExport": lambda demo: {"pipeline": pipeline_id(demo)},
    "docs/pipeline-templates.md#PipelineTemplate": lambda demo: {"id": pipeline_id(demo)},
    "docs/pipeline-templates.md#ImportPipelineTemplate": lambda demo: {
        "template": _json_example(ROOT / "docs" / "pipeline-templates.md")
    },
}


def _json_example(path: Path) -> Any:
    """The one ```json block of a page."""
    (block,) = [b for b in fenced_blocks(path) if b.info == "json"]
    return json.loads(block.text)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`python server.py demo`, then `python server.py` on that SQLite file. Without the
    runner: it would also send webhooks, and the examples register one for a partner's
    address (nothing may leave this machine)."""
    folder = tmp_path_factory.mktemp("demo")
    server = ServerProcess(
        folder,
        "--no-runner",
        DATABASE_URL=f"sqlite://{folder / 'demo.db'}",
        WEBHOOK_ALLOW_PRIVATE="true",  # a registration then resolves no name (no DNS query)
    )
    token = json.loads(server.cli("demo"))["token"]
    server.start()
    try:
        yield Demo(server, token, folder / "demo.db")
    finally:
        server.stop()


def test_every_block_is_one_this_file_knows_how_to_check() -> None:
    for path in documents():
        for block in fenced_blocks(path):
            fixed = path.name == "api.md" and block.info == "graphql fixed"
            assert fixed or block.info in LANGUAGES, f"{block.where}: ```{block.info} is not run"


def test_variables_name_only_examples_that_exist() -> None:
    keys = [e.key for e in examples() + examples("graphql portal")]
    assert not [k for k in keys if k.endswith("#anonymous")], "name every example's operation"
    assert len(keys) == len(set(keys)), "two examples of one file share an operation name"
    assert set(VARIABLES) <= set(keys)


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.key)
@pytest.mark.slow
async def test_the_example_runs(demo: Demo, example: Example) -> None:
    variables = VARIABLES[example.key](demo) if example.key in VARIABLES else {}
    missing = example.required_variables - variables.keys()
    assert not missing, f"{example.block.where}: give {missing} in VARIABLES[{example.key!r}]"
    if example.operation.operation == OperationType.SUBSCRIPTION:
        await _subscribe(demo, example, variables)
        return
    body = run(demo, example, variables)
    if example.key == "README.md#Move":  # the card landed where it was dragged
        job = body["data"]["moveJob"]["job"]
        assert job["id"] == variables["job"]
        assert job["version"] == variables["version"] + 1


def run(demo: Demo, example: Example, variables: dict[str, Any]) -> dict[str, Any]:
    """A query or mutation over HTTP: no errors, and none in a mutation's payloads."""
    body = demo.post(example.block.text, **variables)
    assert "errors" not in body, f"{example.block.where}: {body}"
    assert body["data"], body
    if example.operation.operation == OperationType.MUTATION:
        for field, payload in body["data"].items():
            assert payload["errors"] == [], f"{example.block.where}: {field}: {payload}"
    return body


async def _subscribe(demo: Demo, example: Example, variables: dict[str, Any]) -> None:
    subscription = await Subscription.open(demo.server, demo.token, example.block.text, **variables)
    try:
        # The subscription starts while the move commits: a move made before it started is
        # not delivered (only a resume is), so move again until an event arrives.
        moved: list[str] = []
        for _ in range(10):
            moved.append(demo.move())
            try:
                event = await subscription.event(wait=2)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no event after 10 moves")
        assert event["type"] == "JOB_MOVED" and event["job"]["id"] in moved, event
    finally:
        await subscription.close()
    after = example.variable_of("after")
    if after is None:
        return
    missed = demo.move()  # while away
    resumed = await Subscription.open(
        demo.server, demo.token, example.block.text, **{**variables, after: event["cursor"]}
    )
    try:
        event = await resumed.event()
        assert (event["type"], event["job"]["id"]) == ("JOB_MOVED", missed)
    finally:
        await resumed.close()


# The portal's examples: the sign-in flow, in this order.
PORTAL_FLOW = [
    "docs/portal.md#RequestLink",
    "docs/portal.md#SignIn",
    "docs/portal.md#Me",
    "docs/portal.md#Jobs",
    "docs/portal.md#Organizer",
    "docs/portal.md#SaveAnswers",
    "docs/portal.md#Submit",
    "docs/portal.md#Reply",
]
# The demo's jobs with the contacts of their clients, to find the one with portal work.
DEMO_PORTAL_WORK = """{ jobs(first: 100) { edges { node { organizers { totalCount }
  client { contacts { email } } } } } }"""


def test_the_portal_examples_are_valid_portal_documents() -> None:
    found = examples("graphql portal")
    assert sorted(e.key for e in found) == sorted(PORTAL_FLOW)
    served = portal_schema._schema
    for example in found:
        errors = validate(served, parse(example.block.text))
        assert not errors, f"{example.block.where}: {errors}"


@pytest.mark.slow
def test_the_portal_examples_sign_a_demo_contact_in(demo: Demo) -> None:
    """The flow as docs/portal.md tells it, at the demo server's /portal/graphql: a link for the
    demo contact whose client has an organizer (its token read as the mailer would: the server
    sends no email here), signed in with, then `me`, the client's jobs, the organizer by id,
    a draft of answers, the submission and a reply, with the session token."""
    flow = {e.key: e for e in examples("graphql portal")}
    demo_jobs = demo.post(DEMO_PORTAL_WORK)["data"]["jobs"]["edges"]
    (address,) = {
        edge["node"]["client"]["contacts"][0]["email"]
        for edge in demo_jobs
        if edge["node"]["organizers"]["totalCount"]
    }

    def post(key: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{demo.server.url}/portal/graphql",
            json={"query": flow[key].block.text, "variables": variables},
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, f"{flow[key].block.where}: {body}"
        for payload in body["data"].values():
            assert payload.get("errors", []) == [], f"{flow[key].block.where}: {payload}"
        return body

    post("docs/portal.md#RequestLink", email=address)
    sealed = _link_email(demo.database, address)
    link_token = keys.unseal(sealed, LINK_TOKEN_PURPOSE)
    assert link_token is not None
    signed_in = post("docs/portal.md#SignIn", linkToken=link_token.decode())
    token = signed_in["data"]["signIn"]["token"]
    me = post("docs/portal.md#Me", token)["data"]["me"]
    assert me["email"] == address and me == signed_in["data"]["signIn"]["contact"]

    jobs = [e["node"] for e in post("docs/portal.md#Jobs", token)["data"]["jobs"]["edges"]]
    (job,) = [j for j in jobs if j["organizers"]["edges"]]
    organizer_id = job["organizers"]["edges"][0]["node"]["id"]
    organizer = post("docs/portal.md#Organizer", token, id=organizer_id)["data"]["organizer"]
    assert (organizer["status"], organizer["job"]["id"]) == ("SENT", job["id"])
    answers = ["No", "Yes, a daughter born in May", "<b>1099-NEC</b> from a side job"]
    assert len(answers) == len(organizer["questions"])
    saved = post("docs/portal.md#SaveAnswers", token, organizerId=organizer_id, answers=answers)
    assert saved["data"]["saveOrganizerAnswers"]["organizer"]["status"] == "SENT"
    submitted = post("docs/portal.md#Submit", token, organizerId=organizer_id, answers=answers)
    assert submitted["data"]["submitOrganizer"]["organizer"]["answers"] == answers
    message_id = job["messages"]["edges"][0]["node"]["id"]
    reply = post("docs/portal.md#Reply", token, messageId=message_id, body="Done, thanks!")
    assert reply["data"]["replyToMessage"]["message"]["inReplyToId"] == message_id


def _link_email(database: Path, address: str) -> str:
    """The sealed token of the link email to `address`, once the server has written it (after
    its answer)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(database)) as db:
            row = db.execute(
                "SELECT sealed_secret FROM email WHERE to_address = ? AND kind = 'PORTAL_LINK'",
                (address,),
            ).fetchone()
        if row:
            return str(row[0])
        time.sleep(0.05)  # polling the condition, with a deadline
    raise AssertionError(f"no link email to {address} after 10 s")


def test_the_python_examples_run() -> None:
    found = blocks("python")
    assert found, "the docs lost their Python examples"
    for block in found:
        namespace: dict[str, Any] = {}
        exec(compile(block.text, block.where, "exec"), namespace)
        checked = [check for name, check in PYTHON_CHECKS.items() if name in namespace]
        assert checked, f"{block.where}: defines none of {sorted(PYTHON_CHECKS)}"
        for check in checked:
            check(namespace)


def check_verify(namespace: dict[str, Any]) -> None:
    """The documented `verify` accepts what the server's signer signs, and nothing else."""
    verify = namespace["verify"]
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    body, message_id, now = (
        b'{"type": "JOB_MOVED"}',
        "msg_" + secrets.token_hex(8),
        int(time.time()),
    )
    headers = signing.headers(secret, message_id, now, body)
    assert verify(secret, headers, body) is True
    assert verify(secret, headers, body.replace(b"MOVED", b"ARCHIVED")) is False
    assert verify(secret, headers, body, now=now + 301) is False
    other = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    assert verify(other, headers, body) is False


PYTHON_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {"verify": check_verify}


def test_the_json_examples_parse() -> None:
    for block in blocks("json"):
        try:
            json.loads(block.text)
        except ValueError as error:
            pytest.fail(f"{block.where}: {error}")


@pytest.mark.slow
def test_the_webhook_sample_has_the_keys_the_server_sends(demo: Demo) -> None:
    """The delivery shown in docs/integrations.md has the shape of a real one: the server
    writes a delivery with the change (this server sends none: no runner)."""
    (sample,) = [json.loads(b.text) for b in blocks("json") if '"eventId"' in b.text]
    body = demo.post(
        """mutation($p: ID) { createWebhookEndpoint(input: {url: "https://partner.example/sample",
        eventTypes: [JOB_MOVED], pipelineId: $p}) { webhookEndpoint { id } errors { code } } }""",
        p=pipeline_id(demo),
    )
    endpoint = body["data"]["createWebhookEndpoint"]["webhookEndpoint"]["id"]
    demo.move()
    body = demo.post(
        "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { deliveries { edges { node {"
        " payload } } } } } }",
        id=endpoint,
    )
    (delivery,) = body["data"]["node"]["deliveries"]["edges"]
    payload = delivery["node"]["payload"]
    assert sample.keys() == payload.keys()
    assert sample["data"].keys() == payload["data"].keys()
    assert sample["data"]["job"].keys() == payload["data"]["job"].keys()


@pytest.mark.slow
def test_an_example_that_fails_fails(demo: Demo, tmp_path: Path) -> None:
    """A block of a page is an example to run, and one answering errors fails: the README's
    old moveJob, with its literal stale expectedVersion, now that the card has moved on."""
    move = demo.a_move()
    page = tmp_path / "page.md"
    page.write_text(
        "```graphql\n"
        f'mutation {{ moveJob(input: {{jobId: "{move["job"]}", stageId: "{move["stage"]}", '
        f"expectedVersion: {move['version'] - 1}}}) {{ job {{ id }} errors {{ code }} }} }}\n"
        "```\n"
    )
    (block,) = fenced_blocks(page)
    document = parse(block.text)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    with pytest.raises(AssertionError, match="VERSION_CONFLICT"):
        run(demo, Example(block, operation), {})
