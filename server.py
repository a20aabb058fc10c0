"""Workflow backend: serve the GraphQL API, migrate, create firms, seed a demo.

python server.py                      serve (SQLite by default) on http://127.0.0.1:8000/graphql
python server.py --workers 4          several serving processes
python server.py migrate              apply pending migrations and exit
python server.py create-firm NAME --owner-email EMAIL
python server.py demo                 seed a demo firm (once); prints a new token of its owner
python server.py issue-token --email EMAIL [--firm FIRM_ID_OR_NAME] [--name NAME]
                 [--scopes READ,WRITE,ADMIN]
                                      a new token for an existing user (recovery)
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.exceptions import BaseORMException

import settings as settings_module
from models import Permission
from models.db import close_database, open_database
from workflow.errors import DomainError, invalid
from workflow.firms import IssuedToken, NewFirm, create_firm, issue_recovery_token
from workflow.global_ids import decode_id, global_id

# uvicorn, the web app and the background workers are imported by the commands that serve or
# work: the one-shot commands (create-firm, issue-token, migrate) start ~0.3 s sooner without.


def _firm_json(new: NewFirm) -> str:
    return json.dumps(
        {
            "firm_id": global_id("Firm", new.firm.id),
            "user_id": global_id("User", new.owner.id),
            "token": new.token,
        }
    )


def _issued_json(issued: IssuedToken) -> str:
    return json.dumps(
        {
            "firm_id": global_id("Firm", issued.firm.id),
            "user_id": global_id("User", issued.user.id),
            "token": issued.token,
        }
    )


def _scopes(value: str | None) -> list[Permission] | None:
    if value is None:
        return None
    names = [name.strip().upper() for name in value.split(",") if name.strip()]
    if unknown := [name for name in names if name not in Permission.__members__]:
        raise invalid("scopes", f"unknown scope {', '.join(unknown)}: use READ, WRITE, ADMIN")
    return [Permission(name) for name in names]


async def _issue_token(args: argparse.Namespace) -> IssuedToken:
    """--firm is a firm's global id or, failing that, its name."""
    firm_id: int | None = None
    firm_name: str | None = None
    if args.firm is not None:
        try:
            firm_id = decode_id(args.firm, "Firm", "firm")
        except DomainError:
            firm_name = args.firm
    return await issue_recovery_token(
        args.email,
        firm_id=firm_id,
        firm_name=firm_name,
        name=args.name,
        scopes=_scopes(args.scopes),
    )


async def _open(config: settings_module.Settings) -> None:
    try:
        await open_database(config.database_url, secret_key=config.secret_key)
    except (OSError, BaseORMException) as error:
        raise settings_module.ConfigError(
            f"DATABASE_URL: cannot open the database: {error}"
        ) from error


async def _with_database(
    config: settings_module.Settings, work: Callable[[], Awaitable[Any]]
) -> Any:
    await _open(config)
    try:
        return await work()
    finally:
        await close_database()


WS_MAX_FRAME = 1_000_000
log = logging.getLogger("workflow")


def startup_lines(config: settings_module.Settings, workers: int, runner: bool) -> list[str]:
    """What `serve` tells whoever started it: what it serves, where, on what (no passwords)."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    base = f"http://{host}:{config.port}"
    everywhere = " (all interfaces)" if config.host in ("0.0.0.0", "::") else ""
    broker = (
        f"Redis {settings_module.without_password(config.redis_url)}"
        if config.redis_url
        else "in-process (no REDIS_URL: live updates reach this process's subscribers only)"
    )
    return [
        f"serving GraphQL at {base}/graphql{everywhere} (HTTP and websockets); "
        "open that address in a browser for GraphiQL",
        f"board page: {base}/board",
        f"database: {settings_module.without_password(config.database_url)}",
        f"broker: {broker}",
        "automations runner and webhook sender: in this server"
        if runner
        else "automations runner and webhook sender: not here (--no-runner): "
        "run `python server.py worker` processes",
        f"serving processes: {workers}",
        mail_line(config, "this server" if runner else "the `python server.py worker` processes"),
    ]


def mail_line(config: settings_module.Settings, sent_by: str) -> str:
    """Where emails go (an SMTP server's host and port, never its password; or the folder of
    .eml files), from whom, and which processes send them."""
    from mail import transport as mail_transport

    return f"mail: {mail_transport.describe(config)}, from {config.mail_from}, sent by {sent_by}"


def clock_warning(config: settings_module.Settings) -> str | None:
    """With TEST_CLOCK_FILE set, what the operator must hear at start (a WARNING): dated work
    (reminders, automation runs, email retries) follows a file, not the system clock."""
    if config.test_clock_file is None:
        return None
    at = settings_module.clock_file_instant(config.test_clock_file)
    return (
        f"clock: TEST_CLOCK_FILE {config.test_clock_file} holds the time ({at.isoformat()}): "
        "dated work falls due by that file, not the system clock; for tests only, unset it "
        "in production"
    )


def log_clock(config: settings_module.Settings) -> None:
    if warning := clock_warning(config):
        log.warning("%s", warning)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config() -> dict[str, Any]:
    """uvicorn's logging plus ours: uvicorn applies it in every serving process it spawns
    (--workers), where the basicConfig of this one does not reach."""
    import uvicorn

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["workflow"] = {"format": LOG_FORMAT}
    config["handlers"]["workflow"] = {
        "class": "logging.StreamHandler",
        "formatter": "workflow",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["workflow"] = {"handlers": ["workflow"], "level": "INFO", "propagate": False}
    config["loggers"]["tortoise"] = {"level": "WARNING"}
    return config


def serve(config: settings_module.Settings, workers: int, runner: bool) -> None:
    import uvicorn

    from web.protocol import GuardedHttpProtocol, LeanWebSocketProtocol

    # Migrate once here, so several workers never race to apply the same migration.
    asyncio.run(_migrate(config))
    for line in startup_lines(config, workers, runner):
        log.info("%s", line)
    log_clock(config)
    if not runner:
        os.environ["WORKFLOW_NO_RUNNER"] = "1"  # read by each serving process
    # uvicorn re-raises the SIGTERM it drained on: after a clean shutdown, exit 0 instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "web.app:asgi_app",
        factory=True,
        host=config.host,
        port=config.port,
        workers=workers if workers > 1 else None,
        log_level="info",
        log_config=log_config(),
        access_log=False,
        # Board events are small; per-connection zlib contexts would cost ~100 KB of memory per
        # open subscription and CPU on every event.
        ws_per_message_deflate=False,
        # websockets' Sans-I/O protocol: no tasks of its own per connection (the legacy one
        # keeps two, ~18 KB a socket), and a send that does not wait unless the client is
        # not reading (web.subscriptions writes events without a task per socket).
        ws=LeanWebSocketProtocol,
        ws_max_size=WS_MAX_FRAME,  # a bigger frame closes the socket with 1009
        # SIGTERM: stop accepting, let requests in flight finish (up to their own timeout),
        # close websockets (clients resume from their cursors elsewhere), then stop.
        timeout_graceful_shutdown=int(config.request_timeout),
        # uvicorn's httptools protocol with deadlines for request heads and bodies and a cap on
        # open connections (HEADER_TIMEOUT_SECONDS, BODY_TIMEOUT_SECONDS, MAX_CONNECTIONS).
        http=GuardedHttpProtocol,
    )


async def _migrate(config: settings_module.Settings) -> None:
    await _open(config)
    await close_database()


async def work_forever(config: settings_module.Settings) -> None:
    """Run automations, send webhooks and emails, woken by this process's own commits and
    polling, until SIGTERM or SIGINT. Stopping cancels what is in flight: a run's transaction
    rolls back (another worker runs it), a webhook's or an email's attempt leaves its lease to
    expire (it is sent again)."""
    from web import workers as background

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    background.configure(config)
    async with background.running(config):
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="serving processes (default 1)")
    parser.add_argument(
        "--no-runner",
        action="store_true",
        help="do not run automations here (separate `server.py worker` processes do)",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API (the default)")
    commands.add_parser(
        "worker",
        help="run automations, send webhooks and emails, for as long as it is left running",
    )
    commands.add_parser("migrate", help="apply pending migrations and exit")
    firm = commands.add_parser("create-firm", help="create a firm and print its owner's token")
    firm.add_argument("name")
    firm.add_argument("--owner-email", required=True)
    firm.add_argument("--owner-name")
    commands.add_parser(
        "demo",
        help="seed a demo firm (once: run again, it seeds nothing) and print a new token of its "
        "owner",
    )
    issue = commands.add_parser(
        "issue-token",
        help="issue a new token for an existing, active user and print it "
        "(recovery: e.g. when every owner token was revoked)",
    )
    issue.add_argument("--email", required=True, help="the user's email")
    issue.add_argument(
        "--firm",
        metavar="FIRM_ID_OR_NAME",
        help="the firm's id or name (needed when users of several firms have this email)",
    )
    issue.add_argument("--name", default="recovery", help="the token's name (default recovery)")
    issue.add_argument(
        "--scopes",
        metavar="READ,WRITE,ADMIN",
        help="its scopes (default: all that the user's role allows)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # Tortoise's only INFO line is "Tortoise-ORM shutdown", once per short-lived opening
    # (migrations, then the server's own): noise at start.
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        config = settings_module.load()
        if args.workers > 1 and config.is_sqlite:
            raise settings_module.ConfigError(
                "DATABASE_URL: SQLite has a single writer; several --workers need "
                "postgres://… (and REDIS_URL for live boards across them)"
            )
        if args.command in (None, "serve"):
            serve(config, args.workers, runner=not args.no_runner)
        elif args.command == "worker":
            log.info(
                "worker: running automations, sending webhooks and emails; database: %s",
                settings_module.without_password(config.database_url),
            )
            log.info("%s", mail_line(config, "this worker"))
            log_clock(config)
            asyncio.run(_with_database(config, lambda: work_forever(config)))
        elif args.command == "migrate":
            asyncio.run(_migrate(config))
        elif args.command == "create-firm":
            new = asyncio.run(
                _with_database(
                    config, lambda: create_firm(args.name, args.owner_email, args.owner_name)
                )
            )
            print(_firm_json(new))
        elif args.command == "demo":
            from automations.pipeline_templates import import_shipped
            from workflow.demo import demo

            found, seeded = asyncio.run(_with_database(config, lambda: demo(import_shipped)))
            if not seeded:
                print(
                    f"demo: the demo firm already exists: {found.firm.name!r}, firm_id "
                    f"{global_id('Firm', found.firm.id)}, owner {found.owner.email}; seeded "
                    "nothing, issued its owner a new token",
                    file=sys.stderr,
                )
            print(_firm_json(found))
        elif args.command == "issue-token":
            logging.getLogger().setLevel(logging.WARNING)  # a refusal prints its one line only
            print(_issued_json(asyncio.run(_with_database(config, lambda: _issue_token(args)))))
    except settings_module.ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"error: {error.field}: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
