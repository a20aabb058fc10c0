"""The bench's peer (bench/peer.py) without node: its document asks for our board's shape, its
answers are compared job by job, its ratios are printed, and it is skipped with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, SelectionSetNode, parse

from bench import board, export, peer
from bench.report import Row, table
from bench.suite import gid


def keys(selection: SelectionSetNode | None) -> dict[str, Any]:
    """The response keys a selection asks for, nested (aliases win over names)."""
    if selection is None:
        return {}
    fields = [node for node in selection.selections if isinstance(node, FieldNode)]
    return {
        (field.alias or field.name).value: keys(field.selection_set)
        for field in fields
        if field.name.value != "rowId"  # the peer's own key, asked only to check the jobs
    }


def answer_keys(document: str) -> dict[str, Any]:
    [operation] = parse(document).definitions
    assert isinstance(operation, OperationDefinitionNode)
    return keys(operation.selection_set)


@pytest.mark.parametrize(
    ("ours", "theirs"), [(board.BOARD, peer.BOARD), (export.EXPORT, peer.EXPORT)]
)
def test_the_peers_document_answers_with_our_keys_and_nesting(ours: str, theirs: str) -> None:
    assert answer_keys(theirs) == answer_keys(ours)


def test_a_board_differing_in_one_jobs_order_is_a_mismatch_naming_the_stage() -> None:
    ours = [(2, [gid("Job", 1), gid("Job", 2)]), (1, [gid("Job", 3)])]
    peer.same_board(ours, [(2, [gid("Job", 1), gid("Job", 2)]), (1, [gid("Job", 3)])], "peer")
    swapped = [(2, [gid("Job", 2), gid("Job", 1)]), (1, [gid("Job", 3)])]
    with pytest.raises(peer.Mismatch, match="stage 0 differs.*first differing at 0"):
        peer.same_board(ours, swapped, "peer")
    with pytest.raises(peer.Mismatch, match="1 stages, ours 2"):
        peer.same_board(ours, ours[:1], "peer")


def test_the_peers_rows_ids_are_spelled_as_ours() -> None:
    data = {
        "pipeline": {"stages": [{"jobs": {"totalCount": 7, "edges": [{"node": {"rowId": 5}}]}}]}
    }
    assert peer.board_ids(data, peer=True) == [(7, [gid("Job", 5)])]


def test_the_vs_peer_column_gives_the_latency_and_throughput_ratios() -> None:
    theirs = Row("peer", [10.0, 20.0, 30.0], rate=50.0)
    ours = Row("ours", [30.0, 40.0, 50.0], rate=25.0, peer=theirs)
    alone = Row("ours, 1 client", [5.0], peer=theirs)
    printed = table([theirs, ours, alone]).splitlines()
    assert printed[0].split()[-2:] == ["peer", "notes"]
    assert ours.peer_ratio == "2.00x (req/s 0.50x)"
    assert alone.peer_ratio == "0.25x"
    assert theirs.peer_ratio == "-"


def test_the_peer_is_skipped_with_its_reason_when_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BENCH_PEER", "0")
    with pytest.raises(peer.Unavailable, match="BENCH_PEER=0"):
        peer.install()
