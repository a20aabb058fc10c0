"""Browser fixtures: Debian's Chromium driven by Playwright's Python API, against a real
`python server.py` process seeded with the demo firm.

No browser is downloaded: Playwright launches /usr/bin/chromium (Debian's `chromium` package;
CHROMIUM names another binary). Without it these tests skip locally and fail under CI=true.
Pages are kept on loopback: any request elsewhere (a CDN) is refused and recorded in
`Session.offsite`, so a test can assert that a page needs no network.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests.conftest import IN_CI
from tests.servers import ServerProcess

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the browser tests (package scope: Playwright's sync API runs
    its own event loop, closed before the suite's asyncio tests go on)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM)"
        if IN_CI:
            pytest.fail(f"browser tests need Chromium under CI=true: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@dataclass
class Session:
    """One browser session (a context: its own cookies and localStorage) and its page."""

    context: BrowserContext
    page: Page
    offsite: list[str] = field(default_factory=list)  # refused non-loopback requests
    console_errors: list[str] = field(default_factory=list)


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return (
        parts.scheme in ("data", "blob", "about")
        or host in LOOPBACK_HOSTS
        or (host.startswith("127."))
    )


@pytest.fixture
def new_session(browser: Browser) -> Iterator[Callable[[], Session]]:
    """Makes browser sessions, each closed after the test."""
    sessions: list[Session] = []

    def make() -> Session:
        context = browser.new_context()
        session = Session(context, context.new_page())

        def keep_on_loopback(route: Route) -> None:
            if _is_loopback(route.request.url):
                route.continue_()
            else:
                session.offsite.append(route.request.url)
                route.abort("internetdisconnected")

        context.route("**/*", keep_on_loopback)
        session.page.on(
            "console",
            lambda m: session.console_errors.append(m.text) if m.type == "error" else None,
        )
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.context.close()


@dataclass
class DemoServer:
    """A running `python server.py` on its own SQLite file, seeded by `server.py demo`."""

    process: ServerProcess
    token: str  # the demo firm owner's

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="package")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A SQLite file seeded once by `python server.py demo`, and the demo owner's token."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    seeder = ServerProcess(path.parent, DATABASE_URL=f"sqlite://{path}")
    return path, json.loads(seeder.cli("demo"))["token"]


def _serve(demo_database: tuple[Path, str], folder: Path) -> Iterator[DemoServer]:
    """A server of its own on a copy of the demo database (seeding once saves ~4 s a test).
    The same database and port are kept across process.stop() / process.start()."""
    template, token = demo_database
    for sidecar in ("", "-wal", "-shm"):  # whatever SQLite left beside the file
        if (source := Path(f"{template}{sidecar}")).exists():
            shutil.copyfile(source, folder / f"board.sqlite3{sidecar}")
    process = ServerProcess(folder, DATABASE_URL=f"sqlite://{folder / 'board.sqlite3'}")
    process.start()
    yield DemoServer(process, token)
    process.stop()


@pytest.fixture
def demo_server(demo_database: tuple[Path, str], tmp_path: Path) -> Iterator[DemoServer]:
    """A demo server for this test alone: for tests that change the board or stop the server."""
    yield from _serve(demo_database, tmp_path)


@pytest.fixture(scope="module")
def shared_demo_server(
    demo_database: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """One demo server for the tests of a module that only read what they did not change
    themselves (a server start is ~2 s of CPU)."""
    yield from _serve(demo_database, tmp_path_factory.mktemp("shared-demo"))
