"""Configuration: defaults, and one clear line naming the variable when a value is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from settings import DEFAULT_DATABASE_URL, ConfigError, load
from workflow import clock


def test_defaults_are_the_embedded_server() -> None:
    settings = load({})
    assert settings.database_url == DEFAULT_DATABASE_URL and settings.is_sqlite
    assert (settings.redis_url, settings.host, settings.port) == (None, "127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "mysql://localhost/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://localhost"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:///no/such/folder/db.sqlite3"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"SUBSCRIPTION_QUEUE_SIZE": "0"}, "SUBSCRIPTION_QUEUE_SIZE"),
        ({"MAX_CONNECTIONS": "-1"}, "MAX_CONNECTIONS"),
        ({"MAX_CONNECTIONS": "many"}, "MAX_CONNECTIONS"),
        ({"HEADER_TIMEOUT_SECONDS": "0"}, "HEADER_TIMEOUT_SECONDS"),
        ({"HEADER_TIMEOUT_SECONDS": "10s"}, "HEADER_TIMEOUT_SECONDS"),
        ({"BODY_TIMEOUT_SECONDS": "-5"}, "BODY_TIMEOUT_SECONDS"),
        ({"BODY_TIMEOUT_SECONDS": "nan"}, "BODY_TIMEOUT_SECONDS"),
        ({"MAX_SOCKETS_PER_TOKEN": "ten"}, "MAX_SOCKETS_PER_TOKEN"),
        ({"MAX_SOCKETS_PER_FIRM": "-3"}, "MAX_SOCKETS_PER_FIRM"),
        ({"SUBSCRIPTION_STARTS_PER_10S": "1.5"}, "SUBSCRIPTION_STARTS_PER_10S"),
        ({"FIRM_SUBSCRIPTION_STARTS_PER_10S": "x"}, "FIRM_SUBSCRIPTION_STARTS_PER_10S"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(env)
    assert str(error.value).startswith(f"{variable}:") and "\n" not in str(error.value)


def test_slow_client_limits_default_and_parse() -> None:
    defaults = load({})
    assert (defaults.max_connections, defaults.header_timeout, defaults.body_timeout) == (
        2000,
        10.0,
        20.0,
    )
    tuned = load(
        {"MAX_CONNECTIONS": "50", "HEADER_TIMEOUT_SECONDS": "0.5", "BODY_TIMEOUT_SECONDS": "3"}
    )
    assert (tuned.max_connections, tuned.header_timeout, tuned.body_timeout) == (50, 0.5, 3.0)


def test_socket_limits_default_and_parse() -> None:
    defaults = load({})
    assert (
        defaults.max_sockets_per_token,
        defaults.max_sockets_per_firm,
        defaults.token_starts_per_10s,
        defaults.firm_starts_per_10s,
    ) == (50, 500, 100, 1000)
    tuned = load(
        {
            "MAX_SOCKETS_PER_TOKEN": "0",
            "MAX_SOCKETS_PER_FIRM": "7",
            "SUBSCRIPTION_STARTS_PER_10S": "0",
            "FIRM_SUBSCRIPTION_STARTS_PER_10S": "9",
        }
    )
    assert (
        tuned.max_sockets_per_token,
        tuned.max_sockets_per_firm,
        tuned.token_starts_per_10s,
        tuned.firm_starts_per_10s,
    ) == (0, 7, 0, 9)


def test_a_test_clock_file_must_hold_an_instant_with_a_timezone(tmp_path: Path) -> None:
    assert load({}).test_clock_file is None
    path = tmp_path / "clock"
    for text in (None, "", "tomorrow", "2027-03-01T09:00:00"):
        if text is not None:
            path.write_text(text)
        with pytest.raises(ConfigError) as error:
            load({"TEST_CLOCK_FILE": str(path)})
        assert str(error.value).startswith("TEST_CLOCK_FILE:") and "\n" not in str(error.value)
    path.write_text("2027-03-01T10:00:00+01:00\n")
    assert load({"TEST_CLOCK_FILE": str(path)}).test_clock_file == str(path)


def test_the_clock_follows_its_file_each_write_seen_at_once(tmp_path: Path) -> None:
    """Every set is seen by the next reading, however close together (a rename: a new inode,
    whatever the mtime's granularity); a frozen clock still wins in its block."""
    path, at = tmp_path / "clock", datetime(2027, 3, 1, 9, tzinfo=UTC)
    clock.set_file(path, at)
    clock.configure(str(path))
    try:
        assert clock.now() == at
        for minutes in range(1, 50):
            clock.set_file(path, at + timedelta(minutes=minutes))
            assert clock.now() == at + timedelta(minutes=minutes)
        with clock.frozen(at - timedelta(days=1)):
            assert clock.now() == at - timedelta(days=1)
        assert clock.now() == at + timedelta(minutes=49)
    finally:
        clock.configure(None)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)


def test_export_settings_default_and_parse() -> None:
    default = load({})
    assert (default.export_dir, default.export_retention_hours) == ("exports", 24)
    chosen = load({"EXPORT_DIR": "/srv/exports", "EXPORT_RETENTION_HOURS": "72"})
    assert (chosen.export_dir, chosen.export_retention_hours) == ("/srv/exports", 72)
    for bad in ("0", "8761", "-1", "a day"):
        with pytest.raises(ConfigError, match="EXPORT_RETENTION_HOURS"):
            load({"EXPORT_RETENTION_HOURS": bad})
