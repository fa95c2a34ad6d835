"""One suite, every backend: the store contract of ``plait.store.base.Store``."""

from __future__ import annotations

import threading
import time

import pytest

from plait.errors import LeaseHeld, RunNotFound
from plait.store import Store
from plait.store.records import EventRecord, RunRecord, RunUpdate, StepRecord
from store.conftest import new_id


def _run(run_id: str, **values: object) -> RunRecord:
    fields: dict[str, object] = {
        "workflow": "wf",
        "status": "running",
        "created_at": "2026-01-01T00:00:00.000000+00:00",
    }
    fields.update(values)
    return RunRecord(id=run_id, **fields)  # type: ignore[arg-type]


def test_a_run_round_trips(store: Store) -> None:
    run_id = new_id()
    record = _run(
        run_id,
        definition="name: wf",
        definition_hash="abc",
        inputs='{"n":1}',
        outline='{"nodes":[]}',
        file="/tmp/wf.yaml",
    )
    store.write([record])
    assert store.get_run(run_id) == record


def test_update_changes_only_the_named_columns(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id, inputs='{"a":1}')])
    store.write([RunUpdate(run_id, {"status": "succeeded", "outputs": "[1]"})])
    got = store.get_run(run_id)
    assert (got.status, got.outputs, got.inputs) == ("succeeded", "[1]", '{"a":1}')


def test_step_attempts_upsert_by_key(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    running = StepRecord(
        run_id=run_id,
        node_id="a",
        attempt=1,
        step_id="a",
        status="running",
        started_at="2026-01-01T00:00:01.000000+00:00",
    )
    store.write([running])
    done = StepRecord(
        run_id=run_id,
        node_id="a",
        attempt=1,
        step_id="a",
        status="succeeded",
        output='{"x":1}',
        started_at=running.started_at,
        finished_at="2026-01-01T00:00:02.000000+00:00",
        parent_step_id="g",
        join_policy="any",
    )
    second = StepRecord(
        run_id=run_id, node_id="b", attempt=2, step_id="b", status="failed", error='{"type":"X"}'
    )
    store.write([done, second])
    assert sorted(store.get_steps(run_id), key=lambda s: s.node_id) == [done, second]


def test_one_batch_is_one_transaction_latest_write_wins(store: Store) -> None:
    run_id = new_id()
    batch = [
        _run(run_id),
        StepRecord(run_id=run_id, node_id="a", attempt=1, step_id="a", status="running"),
        StepRecord(run_id=run_id, node_id="a", attempt=1, step_id="a", status="succeeded"),
        EventRecord(run_id=run_id, seq=1, time="t1", kind="step_started", node_id="a"),
        EventRecord(
            run_id=run_id,
            seq=2,
            time="t2",
            kind="step_ended",
            node_id="a",
            payload='{"status":"succeeded"}',
        ),
    ]
    store.write(batch)
    assert [s.status for s in store.get_steps(run_id)] == ["succeeded"]
    assert [e.kind for e in store.get_events(run_id)] == ["step_started", "step_ended"]
    assert store.max_event_seq(run_id) == 2
    assert store.max_event_seq(new_id()) == 0


def test_lease_is_exclusive_until_released_or_expired(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    now = time.time()
    assert store.acquire_lease(run_id, "alice", 30, now)
    assert not store.acquire_lease(run_id, "bob", 30, now + 1)
    assert store.renew_lease(run_id, "alice", 30, now + 2)
    assert not store.renew_lease(run_id, "bob", 30, now + 2)
    assert store.acquire_lease(run_id, "bob", 30, now + 33)  # alice's lease expired
    assert not store.renew_lease(run_id, "alice", 30, now + 34)
    store.release_lease(run_id, "bob")
    assert store.acquire_lease(run_id, "carol", 30, now + 35)


def test_lease_of_a_dead_holder_can_be_taken_by_name(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    now = time.time()
    assert store.acquire_lease(run_id, "dead", 30, now)
    assert not store.acquire_lease(run_id, "new", 30, now, steal_from="someone-else")
    assert store.acquire_lease(run_id, "new", 30, now, steal_from="dead")
    assert store.get_run(run_id).lease_owner == "new"


def test_racing_for_a_lease_exactly_one_wins(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    barrier = threading.Barrier(8)
    wins: list[str] = []

    def race(owner: str) -> None:
        barrier.wait()
        if store.acquire_lease(run_id, owner, 30, time.time()):
            wins.append(owner)

    threads = [threading.Thread(target=race, args=(f"p{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.get_run(run_id).lease_owner == wins[0]


def test_cancel_request(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    assert store.cancel_requested(run_id) is False
    store.request_cancel(run_id)
    assert store.cancel_requested(run_id) is True


def test_list_runs_newest_first_with_filters(store: Store) -> None:
    tag = new_id()[:8]
    ids = []
    for i, status in enumerate(["succeeded", "failed", "succeeded"]):
        run_id = f"{tag}-{i}"
        ids.append(run_id)
        store.write(
            [
                _run(
                    run_id,
                    workflow=f"wf-{tag}",
                    status=status,
                    created_at=f"2026-01-01T00:00:0{i}.000000+00:00",
                )
            ]
        )
    listed = store.list_runs(workflow=f"wf-{tag}")
    assert [r.id for r in listed] == ids[::-1]
    assert [r.id for r in store.list_runs(workflow=f"wf-{tag}", status="failed")] == [ids[1]]
    assert len(store.list_runs(workflow=f"wf-{tag}", limit=2)) == 2


def test_unique_prefix_finds_a_run_and_unknown_raises(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    assert store.get_run(run_id[:12]).id == run_id
    with pytest.raises(RunNotFound):
        store.get_run("no-such-run")
    with pytest.raises(RunNotFound):
        store.request_cancel("no-such-run")


def test_an_ended_attempt_is_never_overwritten(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    failed = StepRecord(
        run_id=run_id, node_id="a", attempt=1, step_id="a", status="failed", error='{"type":"Boom"}'
    )
    store.write([failed])
    store.write([failed._replace(status="cancelled", error=None)])  # in a later batch
    store.write(
        [  # and in one batch
            StepRecord(run_id=run_id, node_id="b", attempt=1, step_id="b", status="running"),
            StepRecord(run_id=run_id, node_id="b", attempt=1, step_id="b", status="timed_out"),
            StepRecord(run_id=run_id, node_id="b", attempt=1, step_id="b", status="skipped"),
        ]
    )
    rows = {s.node_id: (s.status, s.error) for s in store.get_steps(run_id)}
    assert rows == {"a": ("failed", '{"type":"Boom"}'), "b": ("timed_out", None)}


def test_a_fenced_write_needs_the_lease(store: Store) -> None:
    run_id = new_id()
    store.write([_run(run_id)])
    assert store.acquire_lease(run_id, "holder", 30, time.time())
    row = StepRecord(run_id=run_id, node_id="a", attempt=1, step_id="a", status="succeeded")
    with pytest.raises(LeaseHeld):
        store.write([row, RunUpdate(run_id, {"status": "succeeded"})], fence=(run_id, "stale"))
    assert store.get_steps(run_id) == []  # nothing of the refused batch was written
    assert store.get_run(run_id).status == "running"
    store.write([row], fence=(run_id, "holder"))
    assert [s.status for s in store.get_steps(run_id)] == ["succeeded"]


def test_events_since_a_sequence_number_are_the_newer_ones_in_order(store: Store) -> None:
    """What ``plait runs events --follow`` polls: only the events past the last seen."""
    run_id, other = new_id(), new_id()
    store.write([_run(run_id), _run(other)])
    store.write([EventRecord(run_id, seq, f"t{seq}", "step_ended", "a") for seq in (1, 2, 3)])
    store.write([EventRecord(other, 1, "t1", "run_started")])
    store.write([EventRecord(run_id, seq, f"t{seq}", "step_ended", "a") for seq in (4, 5)])
    assert [e.seq for e in store.get_events(run_id)] == [1, 2, 3, 4, 5]
    assert [e.seq for e in store.get_events(run_id, since=3)] == [4, 5]
    assert [e.seq for e in store.get_events(run_id, 5)] == []
    assert [e.seq for e in store.get_events(other, since=0)] == [1]
    assert store.get_events(new_id(), since=2) == []
