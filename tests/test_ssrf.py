"""Webhooks never reach a private address unless WEBHOOK_ALLOW_PRIVATE=true (issue 12, defect
3): such targets are refused when registered, in every spelling and by name, and again when
the sender connects (DNS can change), before any connection. Only loopback targets are used:
private targets are allowed for the rest of the suite (tests/conftest.py), and these tests turn
that off; the other ranges are tested as pure units (tests/test_webhook_addresses.py)."""

from __future__ import annotations

import re
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import settings as settings_module
from models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from tests.live import MOVE, make_board
from tests.receiver import Receiver
from tests.servers import ServerProcess, graphql
from webhooks import sender
from webhooks.transport import CheckedTransport, new_client
from workflow import webhook_addresses, webhooks
from workflow.firms import NewFirm

CREATE = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) {
  webhookEndpoint { id url } errors { code field message } } }"""
UPDATE = """mutation($id: ID!, $url: String!) { updateWebhookEndpoint(input: {id: $id, url: $url})
  { webhookEndpoint { url } errors { code field message } } }"""
LOG = """{ webhookEndpoints { deliveries { edges { node { status lastError } } } } }"""
LOOPBACK = re.compile(
    r"(127\.0\.0\.1|::1) is a loopback address|::ffff:7f00:1 is an "
    r"IPv4-mapped address of 127\.0\.0\.1, a loopback address"
)
LOCALHOST = "localhost.? resolves to a loopback address"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def private_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as deployed by default: WEBHOOK_ALLOW_PRIVATE off."""
    monkeypatch.setattr(webhook_addresses.POLICY, "allow_private", False)


def loopback_spellings(port: int) -> list[tuple[str, str]]:
    """Every way of writing this machine's loopback a URL allows (nothing else: tests never
    register another address), with what the refusal says."""
    return [
        (f"http://{host}:{port}/hooks", said)
        for host, said in [
            ("127.0.0.1", LOOPBACK.pattern),
            ("127.0.0.2", "127.0.0.2 is a loopback address"),
            ("2130706433", LOOPBACK.pattern),
            ("0x7f000001", LOOPBACK.pattern),
            ("0177.0.0.1", LOOPBACK.pattern),
            ("017700000001", LOOPBACK.pattern),
            ("127.1", LOOPBACK.pattern),
            ("0x7f.1", LOOPBACK.pattern),
            ("127.0.0.1.", LOOPBACK.pattern),
            ("[::1]", LOOPBACK.pattern),
            ("[0:0:0:0:0:0:0:1]", LOOPBACK.pattern),
            ("[::ffff:127.0.0.1]", LOOPBACK.pattern),
            ("[::ffff:7f00:1]", LOOPBACK.pattern),
            ("localhost", LOCALHOST),
            ("LocalHost", LOCALHOST),
            ("localhost.", LOCALHOST),
            ("user:password@127.0.0.1", LOOPBACK.pattern),
        ]
    ] + [(f"https://localhost:{port}/hooks?token=x", LOCALHOST)]


async def test_private_targets_are_refused_at_registration_in_every_spelling(
    gql: GraphQL, receiver: Receiver, private_refused: None
) -> None:
    port = receiver.server.server_address[1]
    for url, said in loopback_spellings(port):
        answer = (await gql(CREATE, url=url))["createWebhookEndpoint"]
        assert answer["webhookEndpoint"] is None, url
        [error] = answer["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "url"), url
        assert re.search(
            f"url refused: ({said}); webhooks go to public addresses only", error["message"]
        ), (url, error["message"])
        assert "password" not in error["message"] and "token" not in error["message"]
    assert await WebhookEndpoint.all().count() == 0
    assert receiver.messages() == []


async def test_an_endpoint_cannot_be_moved_to_a_private_target(
    gql: GraphQL, firm_a: NewFirm, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = await webhooks.create_endpoint(scope_of(firm_a), receiver.url)  # allowed then
    monkeypatch.setattr(webhook_addresses.POLICY, "allow_private", False)
    port = receiver.server.server_address[1]
    for url in (f"http://localhost:{port}/other", f"http://[::1]:{port}/other"):
        answer = await gql(UPDATE, id=gid("WebhookEndpoint", endpoint.id), url=url)
        [error] = answer["updateWebhookEndpoint"]["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "url")
    await endpoint.refresh_from_db()
    assert endpoint.url == receiver.url


async def test_with_private_targets_allowed_loopback_is_registered(
    gql: GraphQL, receiver: Receiver
) -> None:
    """The suite's setting (WEBHOOK_ALLOW_PRIVATE=true): the policy is what refused above."""
    answer = (await gql(CREATE, url=receiver.url))["createWebhookEndpoint"]
    assert answer["errors"] == [] and answer["webhookEndpoint"]["url"] == receiver.url


async def _send_all(client: httpx.AsyncClient, schedule: tuple[float, ...]) -> None:
    while await sender.send_due(client, schedule):
        pass


async def test_targets_that_became_private_are_refused_when_connecting(
    firm_a: NewFirm, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered while allowed (as a name whose DNS changed since would be): the sender checks
    again, and connects to nothing; once allowed again, the same deliveries go out."""
    port = receiver.server.server_address[1]
    pipeline, _ = await board(firm_a)
    for url in (receiver.url, f"http://localhost:{port}/hooks", f"http://[::1]:{port}/hooks"):
        await webhooks.create_endpoint(scope_of(firm_a), url, ["JOB_CREATED"])
    await job(firm_a, pipeline, await client(firm_a))
    monkeypatch.setattr(webhook_addresses.POLICY, "allow_private", False)
    worker = sender.Sender((0,))  # the sender follows the process's policy
    try:
        assert await sender.send_due(worker.client, (0, 0)) == 3
        refused = await WebhookDelivery.all().order_by("endpoint_id")
        assert [(d.status, d.attempts, d.last_status_code) for d in refused] == [
            (DeliveryStatus.PENDING, 1, None)
        ] * 3
        assert [d.last_error for d in refused] == [
            "refused: 127.0.0.1 is a loopback address",
            "refused: localhost resolves to a loopback address",
            "refused: ::1 is a loopback address",
        ]
        assert receiver.messages() == []  # not even a connection
        monkeypatch.setattr(webhook_addresses.POLICY, "allow_private", True)
        await _send_all(worker.client, (0, 0))
    finally:
        await worker.stop()
    again = await WebhookDelivery.all().order_by("endpoint_id")
    assert [d.status for d in again] == [DeliveryStatus.DELIVERED] * 2 + [DeliveryStatus.FAILED]
    assert again[2].last_error and again[2].last_error.startswith("ConnectError")  # none on ::1
    assert len(receiver.messages()) == 2


async def test_a_sender_refusing_private_targets_ignores_the_suites_policy(
    firm_a: NewFirm, receiver: Receiver
) -> None:
    pipeline, _ = await board(firm_a)
    await webhooks.create_endpoint(scope_of(firm_a), receiver.url)
    await job(firm_a, pipeline, await client(firm_a))
    async with new_client(sender.TIMEOUT, allow_private=False) as refusing:
        assert refusing.follow_redirects is False
        await _send_all(refusing, (60,))
    [delivery] = await WebhookDelivery.all()
    assert delivery.last_error == "refused: 127.0.0.1 is a loopback address"
    assert receiver.messages() == []


# TLS: the connection goes to the checked address, while SNI, certificate verification and the
# Host header stay the URL's name.


@pytest.fixture(scope="module")
def localhost_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_receiver(localhost_tls: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only `localhost`."""
    cert, key = localhost_tls
    seen: dict[str, Any] = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length", 0)))
            seen["hosts"].append(self.headers["host"])
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["port"] = server.server_address[1]
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def trusting(localhost_tls: tuple[Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=str(localhost_tls[0]))
    transport = CheckedTransport(allow_private=True, ssl_context=context)
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as http:
        yield http


async def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    tls_receiver: dict[str, Any], trusting: httpx.AsyncClient
) -> None:
    port = tls_receiver["port"]
    response = await trusting.post(f"https://localhost:{port}/hooks", content=b"{}")
    assert response.status_code == 204
    assert tls_receiver["sni"] == ["localhost"] and tls_receiver["hosts"] == [f"localhost:{port}"]
    with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
        # the certificate names localhost: the address alone does not verify
        await trusting.post(f"https://127.0.0.1:{port}/hooks", content=b"{}")


def test_the_setting_is_true_or_false_and_off_by_default() -> None:
    base = {"DATABASE_URL": "sqlite://:memory:"}
    assert settings_module.load(base).webhook_allow_private is False
    assert (
        settings_module.load({**base, "WEBHOOK_ALLOW_PRIVATE": ""}).webhook_allow_private is False
    )
    for text, value in (("true", True), ("TRUE", True), ("false", False), ("False", False)):
        loaded = settings_module.load({**base, "WEBHOOK_ALLOW_PRIVATE": text})
        assert loaded.webhook_allow_private is value
    for text in ("yes", "1", "on", "tru"):
        with pytest.raises(settings_module.ConfigError, match="^WEBHOOK_ALLOW_PRIVATE: "):
            settings_module.load({**base, "WEBHOOK_ALLOW_PRIVATE": text})


@pytest.mark.slow
def test_a_server_refuses_private_targets_at_registration_and_when_connecting(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """The whole chain: the setting, the server's registrations and its sender."""
    allowed = ServerProcess(tmp_path, DATABASE_URL=database_url, WEBHOOK_ALLOW_PRIVATE="true")
    allowed.start()
    try:  # registered while private targets were allowed
        board_ = make_board(allowed, jobs=1, firm="SSRF CPA")
        made = graphql(allowed, board_.token, CREATE, url=receiver.url)["createWebhookEndpoint"]
        assert made["errors"] == []
    finally:
        allowed.stop()
    server = ServerProcess(tmp_path, DATABASE_URL=database_url, WEBHOOK_ALLOW_PRIVATE="false")
    server.start()
    try:
        port = receiver.server.server_address[1]
        refused = graphql(server, board_.token, CREATE, url=f"http://localhost:{port}/hooks")
        [error] = refused["createWebhookEndpoint"]["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "url")
        assert "localhost resolves to a loopback address" in error["message"]
        graphql(server, board_.token, MOVE, j=board_.jobs[0], s=board_.stages[1])
        deadline = time.monotonic() + 30
        while True:
            [endpoint] = graphql(server, board_.token, LOG)["webhookEndpoints"]
            log = [edge["node"] for edge in endpoint["deliveries"]["edges"]]
            if log and log[0]["lastError"]:
                break
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
    finally:
        server.stop()
    assert log == [{"status": "PENDING", "lastError": "refused: 127.0.0.1 is a loopback address"}]
    assert receiver.messages() == []  # not even a connection
