"""Configuration from the environment, validated once at start.

A bad value stops the process with one line naming the variable (see `ConfigError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

DEFAULT_DATABASE_URL = "sqlite://workflow.sqlite3"
DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}


class ConfigError(Exception):
    """A configuration value is unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    host: str
    port: int
    subscription_queue_size: int = 500
    # Query cost a token / a whole firm may spend per minute; 0 turns the limit off.
    token_cost_per_minute: int = 200_000
    firm_cost_per_minute: int = 1_000_000
    request_timeout: float = 30.0  # seconds before an HTTP request is cancelled (and rolled back)
    max_body_bytes: int = 1_000_000
    # The deployment's key (models.keys); None: one kept in the database.
    secret_key: str | None = None
    # Seconds between webhook delivery attempts, one entry per retry.
    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    # Webhooks to private-network addresses (loopback, RFC 1918, ...): for development and
    # tests only (workflow.webhook_addresses).
    webhook_allow_private: bool = False
    # Slow clients (web/protocol.py): open connections per process, websockets included (0: no
    # limit); seconds for a request head to arrive, and for its body after the head.
    max_connections: int = 2000
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    # Websockets open at once per token / per firm, per process, and subscription starts per
    # 10 s per token / per firm (web/sockets.py); 0 turns a limit off.
    max_sockets_per_token: int = 50
    max_sockets_per_firm: int = 500
    token_starts_per_10s: int = 100
    firm_starts_per_10s: int = 1000
    # Outbound email (mail.transport): an SMTP server, or with none, .eml files in mail_dir.
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    mail_from: str = "Workflow <no-reply@localhost>"
    mail_dir: str = "outbox"
    # Where clients reach the portal: links in emails are built from it.
    public_url: str = "http://127.0.0.1:8000"
    # Exports (exporter.runner): the folder their files go to, and how long a finished one is
    # kept (hours) before the sweep deletes it.
    export_dir: str = "exports"
    export_retention_hours: int = 24
    # Tests only: a file holding the instant that dated work takes for now (workflow.clock).
    test_clock_file: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def without_password(url: str) -> str:
    """The URL for a log line: a password in it (user:PASSWORD@ or ?password=) shown as ***."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(key.lower() == "password" for key, _ in pairs):
        hidden = [(key, "***" if key.lower() == "password" else value) for key, value in pairs]
        parts = parts._replace(query=urlencode(hidden, safe="*"))
    # Rebuilt by hand: urlunsplit drops the empty host of sqlite:///path.
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query}{fragment}"


def clock_file_instant(path: str) -> datetime:
    """The instant a TEST_CLOCK_FILE holds (as workflow.clock reads it, which settings, at the
    bottom of the layers, may not import); ValueError if none."""
    text = Path(path).read_text().strip()
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone")
    return at.astimezone(UTC)


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    scheme = urlsplit(database_url).scheme
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL: scheme {scheme!r} is not supported; "
            "use sqlite://PATH or postgres://USER@HOST:PORT/DB"
        )
    if scheme != "sqlite" and not urlsplit(database_url).path.strip("/"):
        raise ConfigError("DATABASE_URL: no database name in the URL")
    if scheme == "sqlite":
        folder = Path(database_url.split("://", 1)[1]).parent
        if database_url != "sqlite://:memory:" and not folder.is_dir():
            raise ConfigError(f"DATABASE_URL: folder {str(folder)!r} does not exist")

    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in REDIS_SCHEMES:
        raise ConfigError("REDIS_URL: expected redis://HOST:PORT[/DB]")

    port_text = env.get("PORT") or "8000"
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
        raise ConfigError(f"PORT: {port_text!r} is not a TCP port (1-65535)")

    queue_text = env.get("SUBSCRIPTION_QUEUE_SIZE") or "500"
    if not re.fullmatch(r"[0-9]{1,6}", queue_text) or int(queue_text) < 1:
        raise ConfigError(f"SUBSCRIPTION_QUEUE_SIZE: {queue_text!r} is not a positive number")

    def count(name: str, default: int) -> int:
        text = env.get(name) or str(default)
        if not re.fullmatch(r"[0-9]{1,12}", text):
            raise ConfigError(f"{name}: {text!r} is not a whole number (0 turns the limit off)")
        return int(text)

    def seconds(name: str, default: float) -> float:
        text = env.get(name) or str(default)
        if not re.fullmatch(r"[0-9]{1,5}(\.[0-9]{1,3})?", text) or float(text) <= 0:
            raise ConfigError(f"{name}: {text!r} is not a positive number of seconds")
        return float(text)

    schedule_text = env.get("WEBHOOK_RETRY_SCHEDULE")
    schedule = Settings.webhook_retry_schedule
    if schedule_text:
        try:
            schedule = tuple(float(part) for part in schedule_text.split(","))
        except ValueError:
            schedule = ()
        if not schedule or any(not 0 <= s <= 86400 for s in schedule):
            raise ConfigError(
                f"WEBHOOK_RETRY_SCHEDULE: {schedule_text!r} is not a comma-separated list of "
                "seconds (0-86400)"
            )

    allow_private_text = (env.get("WEBHOOK_ALLOW_PRIVATE") or "false").lower()
    if allow_private_text not in ("true", "false"):
        raise ConfigError(f"WEBHOOK_ALLOW_PRIVATE: {allow_private_text!r} is not true or false")

    secret_key = env.get("SECRET_KEY") or None
    if secret_key is not None and len(secret_key) < 32:
        raise ConfigError(
            "SECRET_KEY: at least 32 characters (e.g. python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')"
        )

    smtp_url = env.get("SMTP_URL") or None
    if smtp_url is not None:
        smtp = urlsplit(smtp_url)
        try:
            smtp.port  # noqa: B018 (raises on a port that is no number)
        except ValueError:
            smtp = smtp._replace(netloc="")
        if smtp.scheme not in ("smtp", "smtps") or not smtp.hostname:
            raise ConfigError(
                "SMTP_URL: expected smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=true] "
                "or smtps://..."
            )
        options = dict(parse_qsl(smtp.query, keep_blank_values=True))
        if unknown := sorted(options.keys() - {"starttls", "timeout"}):
            raise ConfigError(
                f"SMTP_URL: unknown option {', '.join(unknown)} (starttls=true|false, "
                "timeout=SECONDS)"
            )
        if options.get("starttls", "false").lower() not in ("true", "false"):
            raise ConfigError("SMTP_URL: starttls is true or false")
        if smtp.scheme == "smtps" and options.get("starttls", "false").lower() == "true":
            raise ConfigError(
                "SMTP_URL: smtps:// is TLS from the start; starttls=true is for smtp://"
            )
        timeout_text = options.get("timeout", "30")
        if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3})?", timeout_text) or not (
            0 < float(timeout_text) <= 600
        ):
            raise ConfigError(
                f"SMTP_URL: timeout={timeout_text!r} is not a number of seconds (0-600]"
            )

    mail_from = env.get("MAIL_FROM") or Settings.mail_from
    address = parseaddr(mail_from)[1]
    local, _, domain = address.rpartition("@")
    if (
        "\n" in mail_from
        or "\r" in mail_from
        or not (local and domain and address.isascii())
        or any(c in address for c in " ,;<>")
        # parseaddr reads the first of several: "a@x, b@y" would make both the authors
        or len(getaddresses([mail_from])) != 1
    ):
        raise ConfigError(f"MAIL_FROM: {mail_from!r} is not an address (Name <user@host>)")

    public_url = (env.get("PUBLIC_URL") or Settings.public_url).rstrip("/")
    public = urlsplit(public_url)
    if public.scheme not in ("http", "https") or not public.netloc or public.query:
        raise ConfigError(f"PUBLIC_URL: {public_url!r} is not an http(s) base URL")

    test_clock_file = env.get("TEST_CLOCK_FILE") or None
    if test_clock_file is not None:
        try:
            clock_file_instant(test_clock_file)
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"TEST_CLOCK_FILE: {test_clock_file!r} holds no ISO instant with a timezone "
                f"({error}); unset it outside tests"
            ) from error

    export_retention = count("EXPORT_RETENTION_HOURS", Settings.export_retention_hours)
    if not 0 < export_retention <= 8760:
        raise ConfigError(
            f"EXPORT_RETENTION_HOURS: {export_retention} is not a number of hours (1-8760)"
        )

    return Settings(
        database_url=database_url,
        test_clock_file=test_clock_file,
        smtp_url=smtp_url,
        mail_from=mail_from,
        mail_dir=env.get("MAIL_DIR") or Settings.mail_dir,
        export_dir=env.get("EXPORT_DIR") or Settings.export_dir,
        export_retention_hours=export_retention,
        public_url=public_url,
        secret_key=secret_key,
        redis_url=redis_url,
        host=env.get("HOST") or "127.0.0.1",
        port=int(port_text),
        subscription_queue_size=int(queue_text),
        token_cost_per_minute=count("RATE_LIMIT_COST_PER_MINUTE", Settings.token_cost_per_minute),
        firm_cost_per_minute=count(
            "FIRM_RATE_LIMIT_COST_PER_MINUTE", Settings.firm_cost_per_minute
        ),
        webhook_retry_schedule=schedule,
        webhook_allow_private=allow_private_text == "true",
        request_timeout=count("REQUEST_TIMEOUT_SECONDS", int(Settings.request_timeout)) or 30.0,
        max_body_bytes=count("MAX_BODY_BYTES", Settings.max_body_bytes) or Settings.max_body_bytes,
        max_connections=count("MAX_CONNECTIONS", Settings.max_connections),
        header_timeout=seconds("HEADER_TIMEOUT_SECONDS", Settings.header_timeout),
        body_timeout=seconds("BODY_TIMEOUT_SECONDS", Settings.body_timeout),
        max_sockets_per_token=count("MAX_SOCKETS_PER_TOKEN", Settings.max_sockets_per_token),
        max_sockets_per_firm=count("MAX_SOCKETS_PER_FIRM", Settings.max_sockets_per_firm),
        token_starts_per_10s=count("SUBSCRIPTION_STARTS_PER_10S", Settings.token_starts_per_10s),
        firm_starts_per_10s=count("FIRM_SUBSCRIPTION_STARTS_PER_10S", Settings.firm_starts_per_10s),
    )
