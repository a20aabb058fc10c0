"""Scratch databases on a shared PostgreSQL, for the test suites and the benchmark, and a
folder in memory for the suite's SQLite database.

Each is named `wf_<kind>_<pid>_<random>` after the process that made it and dropped by it at
the end. A run that is killed cannot drop its own, so every run first drops the stale ones
left by others: those whose process is gone (when PostgreSQL is on this machine, so the pid
means something) or that are older than STALE_AFTER. Others' runs on the same server keep
theirs: a database in use by a live process is never dropped.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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


# Migrated once, copied for each session: every xdist worker of every run would otherwise apply
# all the migrations to a fresh database of each backend (~6 s of CPU each). A template is named
# after the migrations it holds, so a new migration makes a new one; opening the copy still
# applies whatever is pending.
MIGRATIONS = Path(__file__).resolve().parent.parent / "models" / "migrations"
TEMPLATE_LOCK = 0x77665F73  # the advisory lock held while a template is made or copied


def schema_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


async def create_migrated_database(
    kind: str, migrate: Callable[[str], Awaitable[None]], admin_url: str = ADMIN_URL
) -> str:
    """A new database holding the schema (`migrate(url)` makes it, once per version, in a
    template database `wf_schema_<version>`); its postgres:// URL."""
    url = await create_database(kind, admin_url)  # sweeps first, and makes the name
    name = url.rpartition("/")[2]
    template = f"wf_schema_{schema_version()}"
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        made = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template)
        if not made:
            await admin.execute(f'CREATE DATABASE "{template}"')
            try:
                await migrate(beside(admin_url, template))
            except BaseException:
                await admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                raise
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await admin.close()  # and with it the advisory lock
    return url


async def copy_migrated_sqlite(path: Path, migrate: Callable[[str], Awaitable[None]]) -> None:
    """A SQLite database at `path` holding the schema, copied from a template in /dev/shm
    (made by `migrate(url)` once per version); migrated in place where there is no /dev/shm."""
    if not _shm_writable():
        await migrate(f"sqlite://{path}")
        return
    template = SHM / f"wf-schema-{schema_version()}.sqlite3"
    with (SHM / "wf-schema.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process makes it; the others wait, then copy
        if not template.exists():
            _remove_templates()  # of other versions
            making = SHM / f"wf-schema-new-{os.getpid()}.sqlite3"
            await migrate(f"sqlite://{making}")  # closed again: nothing left in a -wal file
            making.rename(template)
        shutil.copyfile(template, path)


def _shm_writable() -> bool:
    return SHM.is_dir() and os.access(SHM, os.W_OK)


def _remove_templates() -> None:
    for old in SHM.glob("wf-schema-*.sqlite3*"):
        old.unlink(missing_ok=True)
