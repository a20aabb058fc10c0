"""Where a server's time went, from a py-spy raw profile (`python -m bench --profile DIR`).

    python -m bench.profile DIR/board-0.txt [--top 15]

Prints the share of samples by library (of the function running when sampled) and the
functions with the most samples of their own and in total. Samples in uvloop's C event loop
show as the loop runner: that is waiting, not work.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

LIBRARIES = (  # path fragment -> label, first match wins
    ("graphql/", "graphql-core"),
    ("strawberry/", "strawberry"),
    ("tortoise/", "tortoise"),
    ("pypika", "pypika (tortoise's SQL builder)"),
    ("asyncpg/", "asyncpg"),
    ("asyncio/runners.py", "event loop (waiting)"),
    ("asyncio/", "asyncio"),
    ("json/", "stdlib json"),
    ("uvicorn/", "uvicorn"),
    ("starlette/", "starlette"),
    ("websockets/", "websockets"),
    ("redis/", "redis-py"),
    ("logging/", "logging"),
    ("<string>", "generated code (dataclasses, graphql-core visitors)"),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """(stack of (function, file), samples) per line of a raw profile."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            frames.append((match["function"], match["file"]) if match else (frame, ""))
        stacks.append((frames, int(count)))
    return stacks


def library(file: str) -> str:
    for fragment, label in LIBRARIES:
        if fragment in file:
            return label
    return file.split("/")[0] if "/" in file else file  # the app's own top-level package


def summary(path: Path, top: int) -> str:
    stacks = parse(path)
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for frames, count in stacks:
        function, file = frames[-1]
        own[f"{function} ({file})"] += count
        libraries[library(file)] += count
        for name in {f"{function} ({file})" for function, file in frames}:
            inclusive[name] += count

    def lines(counter: Counter[str], limit: int) -> list[str]:
        return [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(limit)]

    ours = Counter(
        {
            name: n
            for name, n in inclusive.items()
            if not any(fragment in name for fragment, _ in LIBRARIES)
            and "site-packages" not in name
            and "/python3." not in name
            and not name.startswith(("main (", "serve (", "<module> ("))
        }
    )
    return "\n".join(
        [
            f"{path}: {total} samples",
            "by library (the function running):",
            *lines(libraries, top),
            "functions, own samples:",
            *lines(own, top),
            "the app's functions, with what they call:",
            *lines(ours, top),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for path in args.profiles:
        print(summary(path, args.top) + "\n")


if __name__ == "__main__":
    main()
