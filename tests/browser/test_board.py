"""The /board page in headless Chromium against a real server: two sessions watch one board and
one drags a card; the page resumes from its cursor after a server restart; sign-in; a refused
move; nothing loaded from beyond loopback."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, WebSocket, expect

from tests.browser.conftest import DemoServer, Session
from tests.servers import ServerProcess, graphql

PIPELINE = "1040 Return"
LIVE = 1_000  # ms: a move is seen by the other session within a second
STARTUP = 30_000  # ms: a page waiting for a server that is starting (its backoff, then the start)

PIPELINES = "{ pipelines(first: 10) { edges { node { id name } } } }"
BOARD = """query Board($id: ID!) { pipeline(id: $id) { stages { id name
    jobs(first: 100) { edges { node { id title version } } } } } }"""
MOVE = """mutation Move($input: MoveJobInput!) { moveJob(input: $input) {
    job { version } errors { code message } } }"""


@dataclass
class Card:
    id: str
    title: str
    version: int
    stage: str


@dataclass
class Api:
    """The server's side of things, over HTTP with the demo token."""

    process: ServerProcess
    token: str

    def stages(self) -> list[dict[str, Any]]:
        pipelines = graphql(self.process, self.token, PIPELINES)["pipelines"]["edges"]
        pipeline_id = next(e["node"]["id"] for e in pipelines if e["node"]["name"] == PIPELINE)
        answer = graphql(self.process, self.token, BOARD, id=pipeline_id)
        stages: list[dict[str, Any]] = answer["pipeline"]["stages"]
        return stages

    def board(self) -> dict[str, list[Card]]:
        """The pipeline's cards per stage, in board order."""
        return {
            stage["name"]: [
                Card(e["node"]["id"], e["node"]["title"], e["node"]["version"], stage["name"])
                for e in stage["jobs"]["edges"]
            ]
            for stage in self.stages()
        }

    def some_move(self) -> tuple[Card, str]:
        """A card, and a stage it is not in."""
        board = self.board()
        source = next(cards[0] for cards in board.values() if cards)
        return source, next(name for name in board if name != source.stage)

    def move(self, card: Card, stage_name: str) -> None:
        stage_id = next(s["id"] for s in self.stages() if s["name"] == stage_name)
        answer = graphql(
            self.process,
            self.token,
            MOVE,
            input={"jobId": card.id, "stageId": stage_id, "expectedVersion": card.version},
        )["moveJob"]
        assert answer == {"job": {"version": card.version + 1}, "errors": []}


def stage(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name, exact=True)


def card(page: Page, stage_name: str, title: str) -> Locator:
    """The card whose title is exactly `title` (the demo's scheduled jobs have titles that
    hold the hand-made ones')."""
    titled = page.locator(".title", has_text=re.compile(f"^{re.escape(title)}$"))
    return stage(page, stage_name).locator(".card", has=titled)


def open_board(session: Session, server: DemoServer) -> Page:
    """Signs in with the demo token, picks the pipeline, waits for its cards and live feed."""
    page = session.page
    page.goto(f"{server.url}/board")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Pipeline").select_option(label=PIPELINE)
    expect(page.locator(".card").first).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


def live_barrier(api: Api, *pages: Page) -> None:
    """Moves a card through the API and waits until every page shows it: their subscriptions
    are then running on the server (a subscribe has no acknowledgement to wait for)."""
    source, target = api.some_move()
    api.move(source, target)
    for page in pages:
        expect(card(page, target, source.title)).to_be_visible()


def test_a_drag_in_one_session_is_seen_by_the_other_within_a_second(
    demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    api = Api(demo_server.process, demo_server.token)
    one, other = new_session(), new_session()
    dragger, watcher = open_board(one, demo_server), open_board(other, demo_server)
    live_barrier(api, dragger, watcher)
    source, target = api.some_move()

    card(dragger, source.stage, source.title).drag_to(stage(dragger, target).locator(".cards"))
    dropped = time.monotonic()
    expect(card(watcher, target, source.title)).to_be_visible(timeout=LIVE)
    seen_after = time.monotonic() - dropped

    expect(card(watcher, source.stage, source.title)).to_have_count(0)
    board = api.board()
    assert [c.version for c in board[target] if c.id == source.id] == [source.version + 1]
    assert all(c.id != source.id for c in board[source.stage])
    # Both pages show the server's order in every stage (the dragger's optimistic placement too).
    for page in (watcher, dragger):
        for name, cards in board.items():
            titles = stage(page, name).locator(".card .title")
            expect(titles).to_have_text([c.title for c in cards], timeout=LIVE)
    assert seen_after < LIVE / 1000
    assert one.offsite == other.offsite == []


def test_the_page_resumes_from_its_cursor_after_a_server_restart(
    demo_server: DemoServer, new_session: Callable[[], Session], tmp_path: Path
) -> None:
    api = Api(demo_server.process, demo_server.token)
    session = new_session()
    frames: list[dict[str, Any]] = []  # what the page sent ("out") and received ("in")

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: frames.append({"out": json.loads(payload)}))
        socket.on("framereceived", lambda payload: frames.append({"in": json.loads(payload)}))

    session.page.on("websocket", watch)
    board_loads: list[str] = []
    session.page.on(
        "request",
        lambda request: (
            board_loads.append(request.url) if "query Board" in (request.post_data or "") else None
        ),
    )
    page = open_board(session, demo_server)
    live_barrier(api, page)  # the page now holds the cursor of that move
    events = [f["in"] for f in frames if f.get("in", {}).get("type") == "next"]
    cursor = events[-1]["payload"]["data"]["boardUpdated"]["cursor"]
    page.evaluate("window.sameDocument = true")
    loads = len(board_loads)

    demo_server.process.stop()
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    # A move while the page's server is down, through the API of another process on the same
    # database: only the log has it, so the page can get it only by resuming from its cursor.
    sibling = ServerProcess(tmp_path, DATABASE_URL=demo_server.process.env["DATABASE_URL"])
    try:
        sibling.start()
        elsewhere = Api(sibling, demo_server.token)
        source, target = elsewhere.some_move()
        elsewhere.move(source, target)
    finally:
        sibling.stop()
    demo_server.process.start()  # the same port and database

    expect(card(page, target, source.title)).to_be_visible(timeout=STARTUP)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert page.evaluate("window.sameDocument") is True  # not reloaded
    assert len(board_loads) == loads  # nor the board fetched again: the event was replayed
    subscribes = [f["out"] for f in frames if f.get("out", {}).get("type") == "subscribe"]
    assert subscribes[-1]["payload"]["variables"]["after"] == cursor


def test_sign_in_remembers_the_token_sign_out_forgets_it_and_a_bad_one_is_refused(
    shared_demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    session = new_session()
    page = open_board(session, shared_demo_server)
    page.reload()  # the token is remembered: straight to the board
    expect(page.locator(".card").first).to_be_visible()
    expect(page.get_by_label("API token")).to_be_hidden()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.locator(".card")).to_have_count(0)
    page.reload()  # forgotten
    expect(page.get_by_label("API token")).to_be_visible()
    assert page.evaluate("localStorage.getItem('board.token')") is None

    page.get_by_label("API token").fill("wf_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This token was refused")
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.get_by_label("Pipeline")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('board.token')") is None


def test_a_refused_move_is_shown_and_the_board_reloaded(
    demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    api = Api(demo_server.process, demo_server.token)
    page = open_board(new_session(), demo_server)
    board = api.board()
    source = next(cards[0] for cards in board.values() if cards)
    target = next(name for name, cards in board.items() if cards and name != source.stage)
    full = next(s for s in api.stages() if s["name"] == target)
    limit = len(full["jobs"]["edges"])  # the stage is at its limit: a move in is refused
    # The page hears of that change live (STAGE_CHANGED), reloads the board and renders every
    # card anew. A card replaced while drag_to presses it makes Playwright press again, and the
    # drag so started is never dropped: wait for the reload to start (aria-busy is set before
    # its request goes out) and to be shown.
    with page.expect_request(lambda request: "query Board" in (request.post_data or "")):
        answer = graphql(
            api.process,
            api.token,
            """mutation($input: UpdateStageInput!) { updateStage(input: $input) {
                stage { wipLimit } errors { code } } }""",
            input={"id": full["id"], "wipLimit": limit},
        )["updateStage"]
    assert answer == {"stage": {"wipLimit": limit}, "errors": []}
    expect(page.locator("#board")).to_have_attribute("aria-busy", "false")

    card(page, source.stage, source.title).drag_to(stage(page, target).locator(".cards"))

    expect(page.get_by_role("alert")).to_contain_text("WIP_LIMIT_REACHED")
    expect(page.get_by_role("alert")).to_contain_text(f"“{source.title}” was not moved")
    expect(card(page, source.stage, source.title)).to_be_visible()  # back where it is
    expect(card(page, target, source.title)).to_have_count(0)
    assert [c.version for c in api.board()[source.stage] if c.id == source.id] == [source.version]


def test_the_page_needs_nothing_beyond_loopback(
    shared_demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    session = new_session()
    requested: list[str] = []
    session.page.on("request", lambda request: requested.append(request.url))
    page = open_board(session, shared_demo_server)
    expect(page.locator(".card")).to_have_count(
        sum(
            len(cards)
            for cards in Api(shared_demo_server.process, shared_demo_server.token).board().values()
        )
    )

    assert session.offsite == [] and session.console_errors == []
    assert requested and all(url.startswith(shared_demo_server.url + "/") for url in requested)
    # and it could not: the page's policy allows only its own origin
    policy = httpx.get(f"{shared_demo_server.url}/board").headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
