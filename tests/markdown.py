"""Reading the project's Markdown: its fenced blocks and its links, for the tests that keep
the documentation true (tests/test_api_contract.py, test_doc_examples.py, test_doc_links.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"


def documents() -> list[Path]:
    """The Markdown a reader of a plain clone follows: the README and the docs."""
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "bench" / "README.md",
        ROOT / "tests" / "reliability" / "README.md",
    ]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str  # what follows the opening fence: "graphql", "graphql fixed", "python", ...
    text: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info else ""

    @property
    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file (CommonMark fences; indented blocks are
    not examples to run)."""
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, info = len(opening.group(1)), opening.group(2), opening.group(3).strip()
        body: list[str] = []
        start = index
        index += 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if closing and closing.group(2).startswith(fence) and not closing.group(3).strip():
                break
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        blocks.append(Block(path, start + 1, info, "\n".join(body) + "\n"))
        index += 1
    return blocks


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced blocks."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None:
            if opening:
                fence = opening.group(2)
            else:
                kept.append(line)
        elif opening and opening.group(2).startswith(fence) and not opening.group(3).strip():
            fence = None
    return kept


LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>\s]+)>", re.IGNORECASE)


def links(markdown: str) -> list[str]:
    """Every link target written in a Markdown text, outside code."""
    # inline code is not a link, but a link's text may hold some: `[`x`](y)`
    text = "\n".join(re.sub(r"`[^`]*`", "", line) for line in prose_lines(markdown))
    return LINK.findall(text) + AUTOLINK.findall(text)


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a file's headings."""
    anchors: set[str] = set()
    for line in prose_lines(path.read_text()):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            title = heading.group(1).lower().replace("`", "")
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors
