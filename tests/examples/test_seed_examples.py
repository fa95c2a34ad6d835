"""The seeds' examples in examples/, each run through ``plait run FILE --json``.

Each test checks what its example is there to show: outputs, statuses, group records,
skip reasons, and (from the recorded timestamps) what ran at the same time.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import running
from .running import (
    EXAMPLES,
    ended,
    example_files,
    load_example_module,
    most_at_once,
    plait_run,
    plait_validate,
    ran_after,
    runs,
    started_before_end_of,
    statuses,
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a run writes (the cache) lands in tmp_path


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with load_example_module("api_server.py").serving() as url:
        yield url


# --- every example ---------------------------------------------------------------------


def test_every_example_is_run_by_a_test() -> None:
    # Import every test module of this folder, so that each one's @runs marks are counted
    # even when only this test was selected.
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("test_"):
            importlib.import_module(f"{__package__}.{module.name}")
    files = set(example_files())
    assert files - running.RUN_BY_TESTS == set(), "examples that no test runs"
    assert running.RUN_BY_TESTS - files == set(), "tests naming examples that do not exist"


@pytest.mark.parametrize("name", example_files())
def test_every_example_validates(name: str) -> None:
    exit_code, text = plait_validate(EXAMPLES / name)
    assert exit_code == 0, text
    assert ": ok: workflow" in text


# --- seed 001: Quick Start 1-3 ---------------------------------------------------------


@runs("parallel_data_fetch.yaml")
def test_quick_start_1_runs_the_three_queries_at_once() -> None:
    doc = plait_run("parallel_data_fetch.yaml", "latency_ms=40")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["total"] == 894.0
    fetches = ["fetch_users", "fetch_products", "fetch_orders"]
    assert most_at_once(doc, fetches) == 3
    group = doc["groups"]["fetch_all"]
    assert group["success"] is True
    assert sorted(group["completedSteps"]) == sorted(fetches)
    assert ran_after(doc, "aggregate", "parallel_fetch")


@runs("rate_limited_processing.yaml")
def test_quick_start_2_processes_ten_items_three_at_a_time_in_a_sliding_window() -> None:
    doc = plait_run("rate_limited_processing.yaml", "item_ms=15", "slow_ms=100")
    assert doc["status"] == "succeeded"
    items = [f"item{i}" for i in range(1, 11)]
    assert doc["outputs"] == {"processed": 10, "items": sorted(items)}
    group = doc["groups"]["batch_processing"]
    assert group["completedSteps"] == items
    assert group["results"]["item7"] == {"item": 7}
    assert most_at_once(doc, items) == 3
    # A window, not batches of three: while slow item1 runs, the other two places go on
    # taking items, so item4 starts long before item1 ends.
    assert started_before_end_of(doc, "item4", "item1")
    assert started_before_end_of(doc, "item6", "item1")


@runs("best_effort_enrichment.yaml")
def test_quick_start_3_returns_the_core_data_and_whatever_enrichment_came(
    tmp_path: Path,
) -> None:
    doc = plait_run("best_effort_enrichment.yaml", f"db={tmp_path / 'users.db'}", "user_id=2")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["profile"] == {
        "user": {"id": 2, "name": "Grace", "email": "grace@example.com"},
        "social": {"handle": "@grace", "followers": 84},
        "credit": None,
        "demographics": None,
        "enriched_by": ["fetch_social"],
    }
    group = doc["groups"]["optional_enrichments"]
    assert group["success"] is True
    assert group["completedSteps"] == ["fetch_social"]
    assert sorted(group["failedSteps"]) == ["fetch_credit", "fetch_demographics"]
    assert group["errors"]["fetch_credit"]["type"] == "ServiceUnavailable"
    assert group["errors"]["fetch_demographics"]["type"] == "TimeoutError"
    assert statuses(doc, ["fetch_credit", "fetch_demographics", "merge"]) == {
        "fetch_credit": "failed",
        "fetch_demographics": "timed_out",
        "merge": "succeeded",
    }
    assert doc["duration_ms"] < 5000  # the 10 s demographics call was cut at 200 ms


# --- seed 001: Usage Examples 1-5 ------------------------------------------------------


@runs("data_aggregation.yaml")
def test_example_1_aggregates_api_db_and_cache_and_the_next_run_finds_the_cache(
    api_url: str, tmp_path: Path
) -> None:
    inputs = (f"base_url={api_url}", f"db={tmp_path / 'aggregation.db'}")
    first = plait_run("data_aggregation.yaml", *inputs)
    assert first["status"] == "succeeded"
    aggregate = first["outputs"]["aggregate"]
    assert aggregate == {
        "records": [
            {"id": 1, "value": 15},
            {"id": 2, "value": 25},
            {"id": 3, "value": 7},
            {"id": 4, "value": 12},
        ],
        "total": 59,
        "sources": {"api": 3, "db": 2},
        "previous_total": None,
    }
    assert first["outputs"]["record_count"] == 4
    group = first["groups"]["data_sources"]
    assert sorted(group["completedSteps"]) == ["fetch_api", "fetch_cache", "fetch_db"]
    assert first["steps"]["fetch_cache"]["output"] is None
    assert ran_after(first, "fetch_db", "create_db")  # a member waits for its dependency

    second = plait_run("data_aggregation.yaml", *inputs)  # the cache is in ./.plait
    assert second["steps"]["fetch_cache"]["output"] == aggregate
    assert second["outputs"]["aggregate"]["previous_total"] == 59


@runs("batch_user_notification.yaml")
def test_example_2_fans_out_over_the_query_rows_and_a_failed_branch_does_not_stop_the_rest(
    tmp_path: Path,
) -> None:
    doc = plait_run("batch_user_notification.yaml", f"db={tmp_path / 'notify.db'}")
    assert doc["status"] == "succeeded"
    outputs = doc["outputs"]
    assert outputs["to_notify"] == 5
    assert outputs["sent"] == 4
    assert outputs["branches"] == [1, None, 4, 5, 7]  # in the rows' order; Linus failed
    assert outputs["outbox"][0] == {
        "user_id": 1,
        "email": "ada@example.com",
        "body": "Hi Ada, your order has shipped (1/5)",
    }
    assert [row["user_id"] for row in outputs["outbox"]] == [1, 4, 5, 7]
    failed = doc["steps"]["notify<1>"]
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "SqlIntegrityError"
    assert doc["steps"]["compose<1>"]["output"] == "Hi Linus, your order has shipped (2/5)"
    branches = [f"notify<{i}>" for i in range(5)]
    assert set(statuses(doc, branches).values()) == {"succeeded", "failed"}
    assert most_at_once(doc, branches) <= 5


@runs("complex_data_pipeline.yaml")
def test_example_4_nested_groups_process_each_source_as_soon_as_it_is_in(api_url: str) -> None:
    doc = plait_run("complex_data_pipeline.yaml", f"base_url={api_url}", "b_delay_ms=200")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["combined"] == {
        "readings": [
            {"sensor": "a-1", "celsius": 20.5},
            {"sensor": "a-2", "celsius": 22.0},
            {"sensor": "b-1", "celsius": 20.0},
            {"sensor": "b-2", "celsius": 25.0},
        ],
        "valid": 4,
        "invalid_sensors": [3],
        "stats": [
            {"source": "a", "count": 2, "min": 20.5, "max": 22.0},
            {"source": "b", "count": 2, "min": 68.0, "max": 77.0},
        ],
    }
    groups = doc["groups"]
    assert set(groups) == {"sources", "process_sources", "processing_a", "processing_b"}
    assert groups["process_sources"]["completedSteps"] == ["process_a", "process_b"]
    assert groups["processing_a"]["completedSteps"] == ["validate_a", "enrich_a", "transform_a"]
    assert all(group["success"] for group in groups.values())
    # Level 2 starts per source: source a was processed while source b was still slow.
    assert ran_after(doc, "process_a", "fetch_source_a")
    assert ended(doc, "process_a") < ended(doc, "fetch_source_b")
    assert ran_after(doc, "process_b", "fetch_source_b")
    assert ran_after(doc, "combine", "process_sources")


@runs("rate_limited_batch.yaml")
def test_example_5_keeps_ten_requests_in_flight_and_reports_the_failures(
    api_url: str, tmp_path: Path
) -> None:
    doc = plait_run(
        "rate_limited_batch.yaml",
        f"base_url={api_url}",
        f"db={tmp_path / 'items.db'}",
        "count=45",
        "delay_ms=2",
    )
    assert doc["status"] == "succeeded"
    report = doc["outputs"]["report"]
    assert report["total"] == 45
    assert report["completed"] == 41
    assert report["failed_ids"] == [10, 20, 30, 40]
    assert report["api_rejected"] == 0  # never an 11th request at once
    assert 1 <= report["api_max_in_flight"] <= 10
    branches = [f"process<{i}>" for i in range(45)]
    assert most_at_once(doc, branches) <= 10
    # The pool's rate: over any stretch of T seconds at most burst + rate * T starts
    # (one more allowed for the time between taking a token and recording the start).
    assert doc["stats"]["pools"]["api"]["rateLimit"]["rate"] == 200.0
    starts = sorted(running.interval(doc, node)[0] for node in branches)
    for i, first in enumerate(starts):
        for j in range(i + 1, len(starts)):
            stretch = (starts[j] - first).total_seconds()
            assert j - i + 1 <= 5 + 200 * stretch + 1, (i, j, stretch)
    assert (starts[-1] - starts[0]).total_seconds() >= (45 - 5 - 1) / 200
    refused = doc["steps"]["process<9>"]
    assert refused["status"] == "failed"
    assert refused["error"]["type"] == "HttpClientError"
    assert "422" in refused["error"]["message"]
    assert doc["steps"]["process<0>"]["output"]["json"] == {"id": 1, "processed": "ITEM-1"}


@runs("wait_strategies.yaml")
def test_strategy_comparison_gives_each_strategy_its_seed_outcome() -> None:
    doc = plait_run("wait_strategies.yaml", "unit_ms=30")
    assert doc["status"] == "succeeded"  # the failed `all` group has continueOnError
    assert doc["outputs"] == {
        "all": "failed",
        "any": "A",
        "allSettled": {"settled_a": "A", "settled_c": "C"},
        "race": "A",
    }
    groups = doc["groups"]
    expected = {  # completed, failed, skipped (cancelled), winner
        "strategy_all": (["all_a"], ["all_b"], ["all_c"], None),
        "strategy_any": (["any_a"], [], ["any_b", "any_c"], "any_a"),
        "strategy_all_settled": (["settled_a", "settled_c"], ["settled_b"], [], None),
        "strategy_race": (["race_a"], [], ["race_b", "race_c"], "race_a"),
    }
    for group_id, (completed, failed, skipped, winner) in expected.items():
        group = groups[group_id]
        assert group["completedSteps"] == completed, group_id
        assert group["failedSteps"] == failed, group_id
        assert sorted(group["skippedSteps"]) == skipped, group_id
        assert group["winner"] == winner, group_id
    assert statuses(doc, ["all_c", "any_c", "race_b"]) == dict.fromkeys(
        ["all_c", "any_c", "race_b"], "cancelled"
    )


@runs("batch_processing.yaml")
def test_batches_run_one_after_another_and_a_bad_item_fails_only_its_branch() -> None:
    doc = plait_run("batch_processing.yaml")
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {
        "batches": [[1, 4, 9], [16, 25, 36], [None, 64, 81], [100]],
        "batch_count": 4,
    }
    bad = doc["steps"]["square[2]<0>"]  # pass 2 of the loop, branch 0 of its map
    assert bad["status"] == "failed"
    assert bad["error"]["type"] == "ExpressionError"
    for i in range(1, 4):
        assert ran_after(doc, f"batch[{i}]", f"batch[{i - 1}]")
    assert ran_after(doc, "square[1]<0>", "square[0]<2>")
    assert "square[3]<1>" not in doc["steps"]  # the last batch holds one item


# --- seed 002 --------------------------------------------------------------------------


@runs("parallel_workflow_example.json")
def test_seed_002_parallel_block_aggregates_its_steps_for_the_next_step() -> None:
    doc = plait_run("parallel_workflow_example.json", "text=one two three four")
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {
        "summary": "One Two Three Four: 4 words, the longest is three",
        "aggregated": {
            "step-a": {"result": 4},
            "step-b": {"result": "One Two Three Four"},
            "step-c": {"result": "three"},
        },
    }
    block = doc["groups"]["parallel-block-1"]
    assert block["completedSteps"] == ["step-a", "step-b", "step-c"]
    assert block["waitStrategy"] == "allSettled"
    members = ["step-a", "step-b", "step-c"]
    assert most_at_once(doc, members) == 2  # max_parallelism
    assert ran_after(doc, "final-step", "parallel-block-1")  # next_step


# --- seed 003 --------------------------------------------------------------------------


@runs("loop_for_foreach.yaml")
def test_for_and_foreach_loops_run_their_passes_in_order() -> None:
    doc = plait_run("loop_for_foreach.yaml", 'words=["ab", "cde", "f"]')
    assert doc["status"] == "succeeded"
    outputs = doc["outputs"]
    assert outputs["squares"] == [0, 1, 4, 9, 16]
    assert outputs["sum_of_squares"] == 30
    assert outputs["running"] == [
        {"word": "ab", "position": "1 of 3", "total": 2},
        {"word": "cde", "position": "2 of 3", "total": 5},
        {"word": "f", "position": "3 of 3", "total": 6},
    ]
    assert outputs["total_length"] == 6
    assert outputs["announced"] == "the squares of 0..4 add up to 30, over 25"
    for i in range(1, 5):  # one pass after another
        assert ran_after(doc, f"square[{i}]", f"square[{i - 1}]")
    assert ran_after(doc, "measure[1]", "add[0]")


@runs("loop_for_foreach.yaml")
def test_an_empty_foreach_runs_no_pass_and_a_false_when_skips() -> None:
    doc = plait_run("loop_for_foreach.yaml", "n=3", "words=[]")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["running"] == []
    assert doc["outputs"]["total_length"] == 0
    assert doc["outputs"]["sum_of_squares"] == 5
    assert doc["outputs"]["announced"] is None
    announce = doc["steps"]["announce"]
    assert announce["status"] == "skipped"
    assert announce["reason"] == "its 'when' condition is false"
    assert not any(node.startswith("measure[") for node in doc["steps"])


@runs("loop_while_dowhile.yaml")
def test_while_and_dowhile_loops_stop_on_their_condition_or_their_limit(
    tmp_path: Path,
) -> None:
    doc = plait_run("loop_while_dowhile.yaml", "start=6", f"db={tmp_path / 'jobs.db'}")
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {
        "collatz": [3, 10, 5, 16, 8, 4, 2, 1],
        "steps_to_one": 8,
        "progress": [30, 60, 90, 100],
        "runaway": {"status": "failed", "error": "LoopLimitExceeded"},
    }
    assert doc["steps"]["poll[3]"]["output"] == {"progress": 100}
    assert "poll[4]" not in doc["steps"]
    assert [node for node in doc["steps"] if node.startswith("spin[")] == [
        "spin[0]",
        "spin[1]",
        "spin[2]",
    ]
    assert "maxIterations (3)" in doc["steps"]["runaway"]["error"]["message"]


@runs("loop_while_dowhile.yaml")
def test_a_while_loop_may_run_no_pass_a_dowhile_loop_runs_one(tmp_path: Path) -> None:
    doc = plait_run(
        "loop_while_dowhile.yaml", "start=1", "step_percent=100", f"db={tmp_path / 'jobs.db'}"
    )
    assert doc["outputs"]["collatz"] == []
    assert doc["outputs"]["progress"] == [100]


@runs("parallel_branches.yaml")
def test_map_branches_keep_item_order_through_a_sliding_window() -> None:
    doc = plait_run("parallel_branches.yaml", "unit_ms=15", "replicas=4")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["summary"] == {
        "labels": ["1/4: size 4", "2/4: size 3", "3/4: size 2", "4/4: size 1"],
        "replicas": ["replica-0", "replica-1", "replica-2", "replica-3"],
        "fastest_mirror": "near",
    }
    work = [f"work<{i}>" for i in range(4)]
    assert most_at_once(doc, work) == 2
    # The first branch is the slowest: it ended after the second, yet its output is first.
    assert ended(doc, "work<1>") < ended(doc, "work<0>")
    assert ran_after(doc, "work<2>", "label<1>")  # a place in the window freed, not a wave
    assert doc["steps"]["work<3>"]["output"] == {"index": 3, "size": 1}
    assert statuses(doc, ["download<0>", "download<1>", "check<1>", "check<2>"]) == {
        "download<0>": "cancelled",  # the far mirror lost
        "download<1>": "succeeded",
        "check<1>": "skipped",
        "check<2>": "failed",  # the broken mirror
    }


@runs("nested_loop_in_map.yaml")
def test_a_loop_in_each_map_branch_has_node_ids_with_both_suffixes() -> None:
    doc = plait_run("nested_loop_in_map.yaml")
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["statements"] == [
        {"account": "alice", "closing": 100, "transactions": 4, "refused": 1},
        {"account": "bob", "closing": 30, "transactions": 2, "refused": 0},
        {"account": "carol", "closing": 0, "transactions": 0, "refused": 0},
    ]
    assert doc["steps"]["apply<0>[1]"]["output"] == {
        "amount": -80,
        "accepted": False,
        "after": 70,
        "refused": 1,
    }
    loop_nodes = {node for node in doc["steps"] if "[" in node}
    assert loop_nodes == {
        *(f"{step}<0>[{i}]" for step in ("balance", "apply") for i in range(4)),
        *(f"{step}<1>[{i}]" for step in ("balance", "apply") for i in range(2)),
    }
    assert ran_after(doc, "balance<0>[2]", "apply<0>[1]")
    assert ran_after(doc, "statement<0>", "ledger<0>")
    # The branches run at once: bob's ledger is done before alice's last transaction.
    assert started_before_end_of(doc, "apply<0>[0]", "ledger<1>")


@runs("nested_loop_in_map.yaml")
def test_nested_loop_in_map_with_an_overdraft_accepts_every_transaction() -> None:
    doc = plait_run("nested_loop_in_map.yaml", "overdraft=50")
    assert doc["outputs"]["statements"][0] == {
        "account": "alice",
        "closing": 20,
        "transactions": 4,
        "refused": 0,
    }


SWITCH_NODES = [
    "manual_review",
    "manual_notify",
    "auto_approve",
    "instant_approve",
    "record",
    "fraud_check",
    "fraud_report",
    "charge",
    "send_receipt",
    "hold_order",
]


@runs("switch_routing.yaml")
@pytest.mark.parametrize(
    ("amount", "taken"),
    [
        ("250", {"auto_approve", "record", "charge", "send_receipt"}),
        (
            "5000",
            {
                "manual_review",
                "manual_notify",
                "record",
                "fraud_check",
                "fraud_report",
                "hold_order",
            },
        ),
        ("20", {"instant_approve", "record", "charge", "send_receipt"}),
    ],
)
def test_switch_takes_one_route_and_skips_what_only_the_others_lead_to(
    amount: str, taken: set[str]
) -> None:
    doc = plait_run("switch_routing.yaml", f"amount={amount}")
    assert doc["status"] == "succeeded"
    for node, status in statuses(doc, SWITCH_NODES).items():
        expected = "succeeded" if node in taken else "skipped"
        if node == "charge" and amount == "5000":
            expected = "failed"  # declined, and routed to hold_order
        assert status == expected, node
    assert doc["outputs"]["packing"] == [
        "parcel of 3",
        "parcel of 40",
        "parcel of 7",
        "pallet of 120",
    ]


@runs("switch_routing.yaml")
def test_switch_routing_records_why_each_step_was_skipped() -> None:
    doc = plait_run("switch_routing.yaml", "amount=250")
    steps = doc["steps"]
    assert doc["outputs"]["record"] == {
        "size": "medium",
        "route": "auto_approve",
        "decision": "approved by the rules",
    }
    assert doc["outputs"]["receipt"] == "receipt for 250"
    assert doc["outputs"]["hold"] is None
    assert steps["manual_review"]["reason"] == "switch 'route' did not choose this route"
    assert steps["manual_notify"]["reason"] == "dependency 'manual_review' skipped"
    assert steps["fraud_check"]["reason"] == "its 'when' condition is false"
    assert steps["fraud_report"]["reason"] == "dependency 'fraud_check' skipped"
    assert "did not fail" in steps["hold_order"]["reason"]
    assert steps["pallet<0>"]["reason"] == "switch 'by_size' did not choose this route"
    assert steps["parcel<3>"]["status"] == "skipped"
    assert steps["packed<3>"]["output"] == "pallet of 120"


@runs("switch_routing.yaml")
def test_switch_routing_sends_a_declined_charge_to_its_handler() -> None:
    doc = plait_run("switch_routing.yaml", "amount=5000")
    assert doc["outputs"]["record"]["decision"] == "reviewer notified"
    assert doc["outputs"]["fraud_report"] == "checked 5000"
    assert doc["outputs"]["receipt"] is None
    assert doc["outputs"]["hold"] == {
        "held": True,
        "reason": "PaymentDeclined: 5000 is over the card's limit of 1000",
    }
    assert doc["steps"]["charge"]["error"]["type"] == "PaymentDeclined"
