"""A plain clone, with nothing beside it, follows the README and the docs with no dead link:
every relative link resolves to a file of the repository (and to a heading, for an anchor)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.markdown import ROOT, documents, heading_anchors, links


def dead_links(path: Path, text: str | None = None) -> list[str]:
    """The links of `path` (or of `text` read as if it were at `path`) that lead nowhere
    inside the repository."""
    dead: list[str] = []
    for target in links(path.read_text() if text is None else text):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # a web address: not the clone's business
        file = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not file.is_relative_to(ROOT):
            dead.append(f"{target}: outside the repository")
        elif not file.exists():
            dead.append(f"{target}: no such file")
        elif (
            parts.fragment and file.suffix == ".md" and parts.fragment not in heading_anchors(file)
        ):
            dead.append(f"{target}: no heading #{parts.fragment} in {file.relative_to(ROOT)}")
    return dead


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    assert path.exists()
    assert not dead_links(path), dead_links(path)


def test_the_readme_links_the_contract() -> None:
    assert "docs/api.md" in links((ROOT / "README.md").read_text())


def test_a_link_outside_the_clone_or_to_nothing_is_found() -> None:
    page = ROOT / "docs" / "api.md"
    written = page.read_text()
    assert dead_links(page, written) == []
    broken = (
        written + "\n[contract](../../shared/API.md) [gone](missing.md) [part](api.md#no-such)\n"
    )
    assert dead_links(page, broken) == [
        "../../shared/API.md: outside the repository",
        "missing.md: no such file",
        "api.md#no-such: no heading #no-such in docs/api.md",
    ]
