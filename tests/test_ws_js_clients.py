"""The websocket protocols against the reference JavaScript clients, in node: `graphql-ws`
and Apollo Client's GraphQLWsLink (graphql-transport-ws), and Apollo's deprecated
WebSocketLink over subscriptions-transport-ws (the legacy graphql-ws). Each client is a
script in tests/clients/ that prints what it receives as JSON lines; a real server process
on SQLite, moves made over HTTP.

The node packages (tests/clients/package-lock.json) are installed once into a cache outside
the repository, keyed by the lock's hash. Without node >= 20 or npm, or when npm cannot
install, these tests skip locally and fail under CI=true."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import IN_CI
from tests.factories import gid
from tests.live import MOVE, Board, board_cursor, make_board, seq_of
from tests.servers import ROOT, ServerProcess, graphql

pytestmark = pytest.mark.slow  # a server process, and node ones
CLIENTS_SOURCE = ROOT / "tests" / "clients"
CLIENTS = ["graphql_ws", "apollo", "apollo_legacy"]  # tests/clients/<name>.mjs
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "workflow-tests"
NODE_MAJOR = 20  # graphql-ws 6's engines
WAIT = 30.0  # seconds for any one line: a loaded machine, never a pause


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the JavaScript websocket clients need node and npm under CI=true: {reason}")
    pytest.skip(reason)


def _install(npm: str) -> Path:
    """node_modules for tests/clients, installed once per version of the lock (each worker
    installs into a folder of its own and renames it into place: the first one wins)."""
    lock = (CLIENTS_SOURCE / "package-lock.json").read_bytes()
    target = CACHE / "clients" / hashlib.sha256(lock).hexdigest()[:16]
    if (target / "node_modules").is_dir():
        return target
    building = target.with_name(f"{target.name}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(CLIENTS_SOURCE / name, building / name)
    command = [npm, "ci", "--prefix", str(building), "--ignore-scripts", "--no-audit", "--no-fund"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        _unavailable(f"npm ci failed ({done.returncode}): {done.stderr[-1500:]}")
    try:
        building.rename(target)
    except OSError:  # another worker's install is in place
        shutil.rmtree(building, ignore_errors=True)
    if not (target / "node_modules").is_dir():
        _unavailable(f"{target} holds no node_modules: remove it to install again")
    return target


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """node, and a folder holding the client scripts beside the cached node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable(f"node or npm is missing (node >= {NODE_MAJOR} and npm are needed)")
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < NODE_MAJOR:
        _unavailable(f"node {version.stdout.strip()} is older than {NODE_MAJOR}")
    installed = _install(npm)
    folder = tmp_path_factory.mktemp("js-clients")
    for script in CLIENTS_SOURCE.glob("*.mjs"):
        shutil.copy(script, folder / script.name)
    (folder / "node_modules").symlink_to(installed / "node_modules", target_is_directory=True)
    return node, folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("ws-js-clients")
    running = ServerProcess(folder, DATABASE_URL=f"sqlite://{folder / 'db.sqlite3'}").start()
    yield running
    running.stop()


class JsClient:
    """One client script running: its output lines as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr = ""
        assert process.stdout is not None and process.stderr is not None
        self.readers = [
            threading.Thread(target=self._read, args=(process.stdout,), daemon=True),
            threading.Thread(target=self._drain, args=(process.stderr,), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:  # not the script's: kept, so that the assertion shows it
                self.lines.put({"unparsed": line})
        self.lines.put(None)  # it exited

    def _drain(self, stderr: IO[str]) -> None:
        self.stderr = stderr.read()

    def _next(self) -> dict[str, Any] | None:
        try:
            return self.lines.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no output within {WAIT} s: {self.stderr}") from None

    def line(self) -> dict[str, Any]:
        """Its next line (it has not exited)."""
        line = self._next()
        assert line is not None, f"exited ({self.process.wait()}): {self.stderr}"
        return line

    def rest(self) -> list[dict[str, Any]]:
        """What it printed until it exited (asserting it exits by itself, with 0)."""
        lines = []
        while (line := self._next()) is not None:
            lines.append(line)
        assert self.process.wait(timeout=WAIT) == 0, (lines, self.stderr)
        return lines

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        for reader in self.readers:
            reader.join(WAIT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


Start = Callable[..., JsClient]


@pytest.fixture
def run(clients: tuple[str, Path], server: ServerProcess) -> Iterator[Start]:
    """Starts a client script: run(name, board, count, pipeline=..., after=...)."""
    node, folder = clients
    started: list[JsClient] = []

    def start(name: str, board: Board, count: int = 1, **variables: str) -> JsClient:
        args = [node, str(folder / f"{name}.mjs"), "--url", server.ws_url, "--count", str(count)]
        # --name=value: a cursor may start with "-", which would read as an option
        args += [f"--{key}={value}" for key, value in variables.items()]
        env = {**os.environ, "WS_TOKEN": board.token}  # the token by the environment
        process = subprocess.Popen(
            args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(JsClient(process))
        return started[-1]

    yield start
    for client in started:
        client.close()


def move(server: ServerProcess, board: Board, job: int, stage: int) -> None:
    answer = graphql(server, board.token, MOVE, j=board.jobs[job], s=board.stages[stage])
    assert answer["moveJob"]["errors"] == []


def events(lines: list[dict[str, Any]]) -> list[tuple[str, str | None, int]]:
    """(type, job id, position) of each event line; nothing else may be among them."""
    assert all(set(line) == {"event"} for line in lines), lines
    return [
        (
            line["event"]["type"],
            (line["event"]["job"] or {}).get("id"),
            seq_of(line["event"]["cursor"]),
        )
        for line in lines
    ]


@pytest.mark.parametrize("name", CLIENTS)
def test_client_receives_moves_in_order_and_resumes_from_a_cursor(
    server: ServerProcess, run: Start, name: str
) -> None:
    board = make_board(server, firm=f"Acme {name}")
    jobs = board.jobs
    # from just before the last job's creation: that event, replayed, says it is attached
    watching = run(name, board, count=4, pipeline=board.pipeline, after=board_cursor(board, 2))
    assert watching.line() == {"connected": True}
    replayed = watching.line()
    move(server, board, 0, 1)
    move(server, board, 1, 2)
    move(server, board, 2, 1)
    assert events([replayed, *watching.rest()]) == [
        ("JOB_CREATED", jobs[2], 3),
        ("JOB_MOVED", jobs[0], 4),
        ("JOB_MOVED", jobs[1], 5),
        ("JOB_MOVED", jobs[2], 6),
    ]

    move(server, board, 0, 2)  # while nobody watches
    resumed = run(name, board, count=2, pipeline=board.pipeline, after=board_cursor(board, 5))
    assert resumed.line() == {"connected": True}
    assert events(resumed.rest()) == [("JOB_MOVED", jobs[2], 6), ("JOB_MOVED", jobs[0], 7)]


@pytest.mark.parametrize("name", CLIENTS)
def test_client_surfaces_an_unknown_pipeline(server: ServerProcess, run: Start, name: str) -> None:
    """The subscription's source fails: its error as its one result, then complete (as the
    graphql-ws reference server does for an error raised while subscribing)."""
    board = make_board(server, firm=f"Beta {name}")
    watching = run(name, board, pipeline=gid("Pipeline", 999_999))
    assert watching.line() == {"connected": True}
    failed, *after = watching.rest()
    assert [error["extensions"] for error in failed["errors"]] == [
        {"code": "NOT_FOUND", "field": "pipelineId"}
    ]
    assert after == [{"complete": True}]


# What each client tells of a subscription refused before it runs: graphql-ws its `error`
# message's errors (and no complete, which the protocol does not send after it); Apollo the
# same errors, then completes; over the legacy protocol the first error (as
# subscriptions-transport-ws hands it over), then complete.
REFUSED = {
    "graphql_ws": ["error"],
    "apollo": ["errors", "complete"],
    "apollo_legacy": ["error", "complete"],
}


@pytest.mark.parametrize("name", CLIENTS)
def test_client_surfaces_a_refused_subscription(
    server: ServerProcess, run: Start, name: str
) -> None:
    """No $p: refused before it runs, by the protocol's `error` message."""
    board = make_board(server, firm=f"Gamma {name}")
    watching = run(name, board)  # no --pipeline
    assert watching.line() == {"connected": True}
    lines = watching.rest()
    assert [key for line in lines for key in line] == REFUSED[name]
    assert lines[0][REFUSED[name][0]] == [
        {
            "message": "Variable '$p' has invalid value: "
            "Expected a value of non-null type 'ID!' to be provided."
        }
    ]
