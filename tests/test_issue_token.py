"""Recovery (issue 12, defect 8): `python server.py issue-token` gives an existing user a new
token when no one can do it through the API, e.g. after every owner token was revoked. Run as
a real process against a SQLite database that a real server process serves; the token it prints
is used against that server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess

pytestmark = pytest.mark.slow  # every test here starts server processes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: each test's users have emails (and firms names) of its own."""
    folder = tmp_path_factory.mktemp("issue-token")
    process = ServerProcess(folder, DATABASE_URL=f"sqlite://{folder / 'db.sqlite3'}").start()
    yield process
    process.stop()


def issued(server: ServerProcess, *args: str) -> dict[str, str]:
    done = server.command("issue-token", *args)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"firm_id", "user_id", "token"}, answer
    return dict(answer)


def refusal(server: ServerProcess, *args: str) -> str:
    """The one line a refused command prints; it exits non-zero and prints no token."""
    done = server.command("issue-token", *args)
    assert done.returncode != 0 and done.stdout == "", (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def call(server: ServerProcess, token: str, query: str, **variables: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def data(server: ServerProcess, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = call(server, token, query, **variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


def codes(server: ServerProcess, token: str, query: str) -> list[str]:
    return [e["extensions"]["code"] for e in call(server, token, query).json().get("errors", [])]


REVOKE = """mutation($id: ID!) { revokeApiToken(input: {id: $id}) { errors { code } } }"""
INVITE = """mutation($email: String!, $role: Role!) { inviteUser(input: {email: $email,
    role: $role}) { user { id } token errors { code } } }"""
DEACTIVATE = """mutation($id: ID!) { deactivateUser(input: {id: $id}) { errors { code } } }"""
NEW_PIPELINE = """mutation { createPipeline(input: {name: "Payroll", stageNames: ["In"]}) {
    pipeline { id } errors { code } } }"""
NEW_CLIENT = """mutation { createClient(input: {name: "Blue Harbor"}) { errors { code } } }"""
VIEWER = "{ viewer { id email role } }"


def create_firm(server: ServerProcess, name: str, email: str) -> dict[str, str]:
    return dict(json.loads(server.cli("create-firm", name, "--owner-email", email)))


def test_issue_token_lets_a_locked_out_owner_back_in(server: ServerProcess) -> None:
    owner = create_firm(server, "Locked CPA", "owner@locked.test")
    for token in data(server, owner["token"], "{ apiTokens { id } }")["apiTokens"]:
        assert data(server, owner["token"], REVOKE, id=token["id"])["revokeApiToken"] == {
            "errors": []
        }
    assert call(server, owner["token"], VIEWER).status_code == 401  # locked out

    recovered = issued(server, "--email", "Owner@Locked.test")
    assert (recovered["firm_id"], recovered["user_id"]) == (owner["firm_id"], owner["user_id"])
    assert data(server, recovered["token"], VIEWER)["viewer"] == {
        "id": owner["user_id"],
        "email": "owner@locked.test",
        "role": "OWNER",
    }
    assert data(server, recovered["token"], NEW_PIPELINE)["createPipeline"]["errors"] == []
    tokens = data(server, recovered["token"], "{ apiTokens { name scopes revokedAt } }")
    assert {"name": "recovery", "scopes": ["ADMIN", "READ", "WRITE"], "revokedAt": None} in (
        tokens["apiTokens"]
    )


def test_issue_token_with_a_name_and_scopes(server: ServerProcess) -> None:
    owner = create_firm(server, "Scoped CPA", "owner@scoped.test")
    reader = issued(server, "--email", "owner@scoped.test", "--name", "auditor", "--scopes", "READ")
    assert data(server, reader["token"], VIEWER)["viewer"]["role"] == "OWNER"
    assert codes(server, reader["token"], NEW_CLIENT) == ["FORBIDDEN"]
    listed = data(server, owner["token"], "{ apiTokens { name scopes } }")["apiTokens"]
    assert {"name": "auditor", "scopes": ["READ"]} in listed

    staff = data(server, owner["token"], INVITE, email="sam@scoped.test", role="STAFF")
    assert staff["inviteUser"]["errors"] == []
    for_staff = issued(server, "--email", "sam@scoped.test")  # the role's scopes by default
    assert data(server, for_staff["token"], NEW_CLIENT)["createClient"]["errors"] == []
    assert codes(server, for_staff["token"], NEW_PIPELINE) == ["FORBIDDEN"]
    assert "STAFF" in refusal(server, "--email", "sam@scoped.test", "--scopes", "READ,ADMIN")
    assert "PAINT" in refusal(server, "--email", "sam@scoped.test", "--scopes", "READ,PAINT")


def test_issue_token_refuses_unknown_inactive_and_ambiguous_users(
    server: ServerProcess,
) -> None:
    acme = create_firm(server, "Acme CPA", "owner@acme.test")
    beta = create_firm(server, "Beta LLP", "owner@acme.test")  # the same person owns both
    assert "nobody@acme.test" in refusal(server, "--email", "nobody@acme.test")

    invited = data(server, acme["token"], INVITE, email="gone@acme.test", role="ADMIN")
    gone = invited["inviteUser"]["user"]["id"]
    assert data(server, acme["token"], DEACTIVATE, id=gone)["deactivateUser"]["errors"] == []
    assert "deactivated" in refusal(server, "--email", "gone@acme.test")

    assert "--firm" in refusal(server, "--email", "owner@acme.test")
    by_id = issued(server, "--email", "owner@acme.test", "--firm", beta["firm_id"])
    assert (by_id["firm_id"], by_id["user_id"]) == (beta["firm_id"], beta["user_id"])
    by_name = issued(server, "--email", "owner@acme.test", "--firm", "Acme CPA")
    assert (by_name["firm_id"], by_name["user_id"]) == (acme["firm_id"], acme["user_id"])
    assert data(server, by_name["token"], VIEWER)["viewer"]["id"] == acme["user_id"]
    assert "Gamma" in refusal(server, "--email", "owner@acme.test", "--firm", "Gamma")
    assert "nobody" in refusal(server, "--email", "nobody@acme.test", "--firm", "Beta LLP")
