"""The /portal page in headless Chromium against a real demo server (embedded default: emails
are .eml files): a client follows their organizer email's link, asks for a sign-in link, opens
it from the email, answers the organizer and submits it; the job moves on on the staff side.
Nothing is loaded from beyond loopback, and the sign-in token does not stay in the address."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer, Session
from tests.servers import graphql

WAITING = """{ pipelines(first: 4) { edges { node { name stages { name
  jobs(first: 10) { edges { node { id title stage { name }
    client { contacts { email } }
    organizers(first: 2) { edges { node { id status } } } } } } } } } } }"""
STAGE = "query($id: ID!) { job(id: $id) { stage { name } } }"
LINK = re.compile(r"https?://[^\s\"'<>]+/portal/\?token=[^\s\"'<>]+")


def waiting_job(server: DemoServer) -> dict[str, Any]:
    """A 1040 job in its first stage with an organizer sent to its client (the demo's
    automation runs as the server starts: waited for)."""
    deadline = time.monotonic() + 30
    while True:
        pipelines = graphql(server.process, server.token, WAITING)["pipelines"]["edges"]
        [return_1040] = [p["node"] for p in pipelines if p["node"]["name"] == "1040 Return"]
        for edge in return_1040["stages"][0]["jobs"]["edges"]:
            job = edge["node"]
            if [o["node"]["status"] for o in job["organizers"]["edges"]] == ["SENT"]:
                return dict(job)
        assert time.monotonic() < deadline, "no organizer was sent"
        time.sleep(0.1)


def sign_in_link(outbox: Path, address: str, within: float = 15) -> str:
    """The sign-in link of the newest link email to `address` in the outbox folder."""
    deadline = time.monotonic() + within
    while True:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(("plain",))
            if message["To"] == address and body is not None:
                if found := LINK.findall(str(body.get_content())):
                    return str(found[0])
        assert time.monotonic() < deadline, f"no sign-in link for {address} in {outbox}"
        time.sleep(0.05)


def test_a_client_answers_an_organizer_from_the_email_link_and_the_job_moves_on(
    demo_server: DemoServer, new_session: Callable[[], Session]
) -> None:
    job = waiting_job(demo_server)
    [contact] = job["client"]["contacts"]
    organizer = job["organizers"]["edges"][0]["node"]["id"]
    session = new_session()
    page = session.page

    # The organizer email's link: not signed in yet, the page asks for the address.
    page.goto(f"{demo_server.url}/portal/?organizer={organizer}")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#email", contact["email"])
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#notice")).to_be_visible()

    # The link from the email signs in once; the token leaves the address bar.
    outbox = Path(demo_server.process.env["MAIL_DIR"])
    link = sign_in_link(outbox, contact["email"])
    page.goto(link)
    item = page.locator(f"#item-{organizer}")
    expect(item).to_be_visible()
    expect(item).to_have_class(re.compile(r"\bfocus\b"))  # the email's document, remembered
    assert "token=" not in page.url
    expect(page.locator(f"#item-{job['id']} .meta")).to_contain_text("Waiting for your documents")

    # A draft survives a reload; the submission moves the job on.
    areas = item.locator("textarea")
    areas.nth(0).fill("We moved to Portland in May.")
    item.locator("button.save").click()
    expect(page.locator("#notice")).to_have_text("Your answers are saved.")
    page.reload()
    item = page.locator(f"#item-{organizer}")
    expect(item.locator("textarea").nth(0)).to_have_value("We moved to Portland in May.")
    areas = item.locator("textarea")
    for n in range(1, areas.count()):
        areas.nth(n).fill(f"<script>alert({n})</script>")  # shown as text, never run
    item.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_contain_text("submitted")
    expect(page.locator(f"#item-{organizer} .status")).to_have_text("submitted")
    expect(page.locator(f"#item-{organizer} .answer").nth(1)).to_have_text(
        "<script>alert(1)</script>"
    )
    answer = graphql(demo_server.process, demo_server.token, STAGE, id=job["id"])
    assert answer["job"]["stage"]["name"] == "Prepare Engagement Letter"

    # The same link again: refused, and the page says so.
    other = new_session()
    other.page.goto(link)
    expect(other.page.locator("#error")).to_contain_text("invalid or has expired")
    expect(other.page.locator("#sign-in")).to_be_visible()

    assert session.offsite == [] and other.offsite == []
    assert session.console_errors == []
