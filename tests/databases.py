"""Scratch databases on a shared PostgreSQL, for the test suites and the benchmark, and a
folder in memory for the suite's SQLite database.

Each is named `wf_<kind>_<pid>_<random>` after the process that made it and dropped by it at
the end. A run that is killed cannot drop its own, so every run first drops the stale ones
left by others: those whose process is gone (when PostgreSQL is on this machine, so the pid
means something) or that are older than STALE_AFTER. Others' runs on the same server keep
theirs: a database in use by a live process is never dropped.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
# Longer than any run: a scratch database this old belongs to no live run.
STALE_AFTER = 6 * 3600
# wf_test_, wf_rel_, wf_bench_ ... ; the pid and creation time are absent from older names.
NAME = re.compile(r"^wf_[a-z]+_(?:(?P<pid>[0-9]+)_)?[0-9a-f]{8}$")
LOCAL_HOSTS = {"localhost", "::1"}
NAMES = r"SELECT datname FROM pg_database WHERE datname LIKE 'wf\_%'"
# A database's folder changes when tables are made or truncated: its last change of that kind.
AGES = (
    r"SELECT datname, (pg_stat_file('base/' || oid, true)).modification AS changed"
    r" FROM pg_database WHERE datname LIKE 'wf\_%'"
)


def asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def beside(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server (and as the user) of `admin_url`."""
    return f"{admin_url.rpartition('/')[0]}/{name}"


_swept: set[str] = set()  # the servers this process has already swept


async def create_database(kind: str, admin_url: str = ADMIN_URL) -> str:
    """A new, empty database; its postgres:// URL. `kind` says whose it is (test, bench...).
    The first one a process makes on a server sweeps away the stale ones there."""
    server = admin_url.rpartition("/")[0]
    if server not in _swept:
        _swept.add(server)
        await drop_stale_databases(admin_url)
    name = f"wf_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        # A commit need not wait for the disk: a scratch database outlives no crash of the
        # server (the suites that stop PostgreSQL stop a private one, tests.servers).
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await admin.close()
    return beside(admin_url, name)


async def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    """Drop a database this process made, closing whatever connections are left on it."""
    name = url.rpartition("/")[2]
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def scratch_database(kind: str, admin_url: str = ADMIN_URL) -> AsyncIterator[str]:
    """A new database for the duration of the block."""
    url = await create_database(kind, admin_url)
    try:
        yield url
    finally:
        await drop_database(url, admin_url)


def _is_local(admin_url: str) -> bool:
    host = urlsplit(admin_url).hostname or "localhost"
    return host in LOCAL_HOSTS or host.startswith("127.")


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


async def drop_stale_databases(admin_url: str = ADMIN_URL) -> list[str]:
    """Drop the scratch databases that killed runs left behind; their names.

    Stale: its process is gone (PostgreSQL on this machine only), or its files are older than
    STALE_AFTER. A database someone is connected to is kept whatever its name says (a plain
    DROP refuses it)."""
    local = _is_local(admin_url)
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    dropped = []
    try:
        try:
            rows = await admin.fetch(AGES)
        except asyncpg.InsufficientPrivilegeError:  # only a superuser may read file times
            rows = await admin.fetch(NAMES)
        for row in rows:
            match = NAME.match(row["datname"])
            if match is None:
                continue
            pid = match["pid"]
            changed = row.get("changed")
            old = changed is not None and time.time() - changed.timestamp() > STALE_AFTER
            if not (old or (local and pid is not None and _process_gone(int(pid)))):
                continue
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}"')
            except asyncpg.ObjectInUseError:
                continue
            dropped.append(row["datname"])
    finally:
        await admin.close()
    return dropped


SHM = Path("/dev/shm")
SQLITE_PREFIX = "wf-test-"


@contextmanager
def sqlite_folder(fallback: Path) -> Iterator[Path]:
    """A folder for a SQLite database, in memory (/dev/shm) where there is one: every commit
    there costs no disk flush. Removed at the end; those of processes that are gone are
    removed first. Elsewhere, a folder under `fallback`."""
    if not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        yield Path(tempfile.mkdtemp(dir=fallback))
        return
    for left in SHM.glob(f"{SQLITE_PREFIX}*"):
        pid = left.name.removeprefix(SQLITE_PREFIX).partition("-")[0]
        if pid.isdigit() and _process_gone(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{SQLITE_PREFIX}{os.getpid()}-", dir=SHM))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
