"""GraphiQL's first screen works (issue 13), in Debian's Chromium against a real demo server,
with every request off loopback refused (`Session.offsite`): sign in with a token, the schema
loads with it (Docs), a query runs, a subscription gets the token in connection_init; the
token survives a reload and goes on sign-out; a local asset that fails falls back to the CDN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoServer, Session
from tests.servers import graphql

TOKEN_KEY = "workflow.graphiql.token"  # as in web/graphiql.html


def call(server: DemoServer, query: str, **variables: Any) -> dict[str, Any]:
    return graphql(server.process, server.token, query, **variables)


def sign_in(page: Page, token: str) -> None:
    expect(page.get_by_label("API token")).to_be_visible()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def expect_schema_loaded(page: Page) -> None:
    page.get_by_label("Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    expect(docs).to_contain_text("query: Query")
    expect(docs).to_contain_text("subscription: Subscription")
    expect(page.get_by_text("Error fetching schema")).to_have_count(0)


def test_sign_in_loads_the_schema_and_runs_a_query_offline(
    shared_demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    session = new_session()
    page = session.page
    page.goto(f"{shared_demo_server.url}/graphql")
    expect(page.get_by_text("python server.py demo")).to_be_visible()  # the hint
    expect(page.locator(".graphiql-container")).to_have_count(0)  # nothing fails unsigned

    sign_in(page, shared_demo_server.token)
    expect(page.get_by_text("Signed in as owner@demo.test (OWNER)")).to_be_visible()
    expect_schema_loaded(page)
    page.get_by_label("Execute query (Ctrl-Enter)").click()
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"email": "owner@demo.test"')
    expect(result).to_contain_text('"name": "1040 Return"')

    page.reload()  # the token is kept: signed in again, the schema fetched with it
    expect(page.get_by_text("Signed in as owner@demo.test")).to_be_visible()
    expect_schema_loaded(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.locator(".graphiql-container")).to_have_count(0)
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None
    # Served entirely by the server: nothing was asked of the CDN, nothing failed.
    assert session.offsite == []
    assert session.console_errors == []

    sign_in(page, "wf_not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("That token was not accepted")
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None


PIPELINE = """{ pipelines(first: 1) { edges { node { id stages { id
    jobs(first: 1) { edges { node { id } } } } } } } }"""
MOVE = """mutation($job: ID!, $stage: ID!) { moveJob(input: {jobId: $job, stageId: $stage}) {
    errors { code } } }"""


def test_subscriptions_send_the_token_in_connection_init(
    shared_demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    pipeline = call(shared_demo_server, PIPELINE)["pipelines"]["edges"][0]["node"]
    stages = [stage["id"] for stage in pipeline["stages"]]
    start = next(i for i, s in enumerate(pipeline["stages"]) if s["jobs"]["edges"])
    job = pipeline["stages"][start]["jobs"]["edges"][0]["node"]["id"]
    session = new_session()
    page = session.page
    page.goto(f"{shared_demo_server.url}/graphql")
    sign_in(page, shared_demo_server.token)
    expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()

    page.get_by_label("Add tab").click()
    page.locator(".graphiql-query-editor .CodeMirror-code").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(
        f'subscription Watch {{ boardUpdated(pipelineId: "{pipeline["id"]}") '
        "{ type job { id } } }"
    )
    # The tab is named after the operation once GraphiQL has parsed the new text.
    expect(page.locator(".graphiql-tab-active .graphiql-tab-button")).to_have_text("Watch")
    with page.expect_websocket() as opened:
        page.keyboard.press("Control+Enter")
    socket = opened.value
    result = page.locator(".graphiql-response")
    # Moves until one is seen: the first may commit before the server has the subscription.
    for attempt in range(5):
        stage = stages[(start + 1 + attempt) % len(stages)]
        assert call(shared_demo_server, MOVE, job=job, stage=stage)["moveJob"]["errors"] == []
        try:
            expect(result).to_contain_text('"type": "JOB_MOVED"', timeout=3000)
            break
        except AssertionError:
            continue
    expect(result).to_contain_text(f'"id": "{job}"')
    assert not socket.is_closed()  # accepted: a socket without a token is closed with 4401
    assert session.offsite == []


def test_an_asset_that_fails_locally_comes_from_the_cdn(
    shared_demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    session = new_session()
    page = session.page
    page.route("**/static/graphiql/react.production.min.js", lambda route: route.abort())
    page.goto(f"{shared_demo_server.url}/graphql")
    # Offline here, so the CDN's copy fails too, and the page says so.
    expect(page.get_by_text("GraphiQL could not start")).to_be_visible()
    assert session.offsite == ["https://unpkg.com/react@18.2.0/umd/react.production.min.js"]
