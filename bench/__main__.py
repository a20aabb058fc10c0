"""The benchmark suite: seeds a firm on PostgreSQL, runs each scenario against real server
processes beside its floor, and prints one table.

    python -m bench                       every scenario, full size (several minutes)
    python -m bench --quick               a smoke run: small seed, few requests
    python -m bench board export          chosen scenarios: board export startExport moves
                                          fanout memory mail portal timers fields bulk
    python -m bench --database postgres://postgres@127.0.0.1:5432/test

The database named is only used to create a scratch database beside it, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import subprocess
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    board,
    bulk,
    custom_fields,
    export,
    fanout,
    mail,
    moves,
    portal,
    start_export,
    timers,
)
from bench.infra import private_redis
from bench.report import Row, table
from bench.seed import seed
from bench.sqlcount import StatementCounter
from bench.suite import FULL, QUICK, Plan, Suite
from tests.databases import scratch_database
from tests.servers import ROOT

Scenario = Callable[[Suite], Awaitable[list[Row]]]
SCENARIOS: dict[str, Scenario] = {
    "board": board.run,
    "export": export.run,
    "startExport": start_export.run,
    "moves": moves.run,
    "fanout": fanout.run,
    "memory": fanout.run_memory,
    "mail": mail.run,
    "portal": portal.run,
    "timers": timers.run,
    "fields": custom_fields.run,
    "bulk": bulk.run,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"any of {', '.join(SCENARIOS)} (default: all; fanout includes memory)",
    )
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument(
        "--database",
        default="postgres://postgres@127.0.0.1:5432/test",
        help="PostgreSQL beside which the scratch database is created",
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        metavar="N",
        help="fanout and memory with N subscribers only (e.g. --quick --subscribers 2000: "
        "idle memory per subscription without the full seed)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the timed servers with py-spy into DIR "
        "(summarize with python -m bench.profile DIR/FILE)",
    )
    args = parser.parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if unknown := set(args.scenarios) - SCENARIOS.keys():
        parser.error(f"no such scenario: {', '.join(sorted(unknown))}")
    return args


def chosen(names: list[str]) -> list[str]:
    if not names:
        return [name for name in SCENARIOS if name != "memory"]  # fanout measures memory too
    return list(dict.fromkeys(names))


def revision() -> str:
    """The code measured: the commit, and whether the work tree differs from it."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


async def run(args: argparse.Namespace) -> list[Row]:
    plan: Plan = QUICK if args.quick else FULL
    if args.subscribers:
        plan = dataclasses.replace(plan, fanout=((args.subscribers, plan.fanout[0][1]),))
    print(f"code: {revision()}; plan: {'quick' if args.quick else 'full'}", flush=True)
    redis = private_redis().start()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="wf-bench-") as logs:
        try:
            async with scratch_database("bench", args.database) as database_url:
                counter = await StatementCounter(database_url).start()
                try:
                    started = time.perf_counter()
                    firm = await seed(database_url, plan.sizes)
                    print(
                        f"seeded {firm.job_count:,} jobs in the benchmarked pipeline "
                        f"({plan.sizes}) in {time.perf_counter() - started:.1f} s",
                        flush=True,
                    )
                    suite = Suite(
                        plan, database_url, redis, firm, Path(logs), counter, args.profile
                    )
                    async with suite.exits:
                        for name in chosen(args.scenarios):
                            started = time.perf_counter()
                            done = await attempt(name, SCENARIOS[name], suite)
                            rows += done
                            print(
                                f"\n{name} ({time.perf_counter() - started:.0f} s)\n{table(done)}",
                                flush=True,
                            )
                finally:
                    await counter.stop()
        finally:
            redis.stop()
            report_server_errors(Path(logs))
    return rows


async def attempt(name: str, scenario: Scenario, suite: Suite) -> list[Row]:
    """A failed scenario is a row saying so; the others still run."""
    try:
        return await scenario(suite)
    except Exception as error:
        traceback.print_exc()
        return [Row(name, notes=f"FAILED: {type(error).__name__}: {error}"[:200])]


def report_server_errors(logs: Path) -> None:
    """Errors the servers logged: each is a finding, whatever the figures say."""
    lines = [
        line
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if " ERROR " in line or " CRITICAL " in line
    ]
    if lines:
        print(f"\nthe servers logged {len(lines)} error lines; the first:")
        for line in lines[:10]:
            print("  " + line[:300])


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    try:
        import uvloop
    except ImportError:
        rows = asyncio.run(run(args))
    else:
        rows = uvloop.run(run(args))
    print("\n" + table(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
