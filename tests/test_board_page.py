"""The /board page as the server answers it, in-process (no database): every address that
answers the page carries its content security policy. The page at work in a browser:
tests/browser/test_board.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import settings
from web.app import create_app
from web.pages import CONTENT_SECURITY_POLICY


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings.load()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("path", ["/board", "/board/", "/board/index.html", "/board/board.js"])
async def test_the_page_and_its_files_carry_its_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
