"""Rows of the results table: percentiles, units, and printing."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (no interpolation: p99 of 50 values is the largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class Row:
    """One line of the table. Latencies in milliseconds; None prints as "-"."""

    scenario: str
    latencies: list[float] = field(default_factory=list, repr=False)
    throughput: str = "-"
    sql: str = "-"
    peak_rss_mb: float | None = None
    floor: Row | None = field(default=None, repr=False)
    notes: str = ""
    peer: Row | None = field(default=None, repr=False)  # the peer's row (bench.peer)
    rate: float | None = None  # requests per second, for the throughput ratio to the peer

    @property
    def p50(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def p90(self) -> float | None:
        return percentile(self.latencies, 0.90) if self.latencies else None

    @property
    def p99(self) -> float | None:
        return percentile(self.latencies, 0.99) if self.latencies else None

    @property
    def ratio(self) -> str:
        """p50 over the floor's p50."""
        if self.floor is None or not self.p50 or not self.floor.p50:
            return "-"
        return f"{self.p50 / self.floor.p50:.1f}x"

    @property
    def peer_ratio(self) -> str:
        """p50 over the peer's p50; with throughputs, ours over the peer's beside it."""
        if self.peer is None or not self.p50 or not self.peer.p50:
            return "-"
        text = f"{self.p50 / self.peer.p50:.2f}x"
        if self.rate and self.peer.rate:
            text += f" (req/s {self.rate / self.peer.rate:.2f}x)"
        return text


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def per_second(count: float, seconds: float, unit: str = "req") -> str:
    if seconds <= 0:
        return "-"
    rate = count / seconds
    return f"{rate:,.0f} {unit}/s" if rate >= 10 else f"{rate:.1f} {unit}/s"


HEADERS = (
    "scenario",
    "p50",
    "p90",
    "p99",
    "throughput",
    "SQL/req",
    "peak RSS",
    "vs floor",
    "vs peer",
    "notes",
)


def cells(row: Row) -> tuple[str, ...]:
    rss = f"{row.peak_rss_mb:.0f} MB" if row.peak_rss_mb is not None else "-"
    return (
        row.scenario,
        ms(row.p50),
        ms(row.p90),
        ms(row.p99),
        row.throughput,
        row.sql,
        rss,
        row.ratio,
        row.peer_ratio,
        row.notes,
    )


def table(rows: list[Row], markdown: bool = False) -> str:
    lines = [HEADERS, *(cells(row) for row in rows)]
    if markdown:
        out = ["| " + " | ".join(line) + " |" for line in lines]
        out.insert(1, "|" + "---|" * len(HEADERS))
        return "\n".join(out)
    widths = [max(len(line[n]) for line in lines) for n in range(len(HEADERS))]
    out = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
        for line in lines
    ]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text.rstrip() for text in out)
