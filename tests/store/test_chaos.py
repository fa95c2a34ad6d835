"""Chaos, small: five random SIGKILLs per store, in ``plait run`` and in ``plait
resume``, with a side-effect log; every run resumed to its end.

No step recorded ``succeeded`` runs again, no process runs a step twice, every run
stays readable after every kill and ends with the outputs of an uninterrupted run.
The larger version, with the figures: ``python -m bench.chaos --kills 20``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.chaos import run_campaign
from e2e_support import store_for

KILLS = 5
SEEDS = {"sqlite": 11, "postgres": 12}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_random_kills_in_runs_and_resumes_never_rerun_a_success(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_for(backend, request, tmp_path)
    counts = run_campaign(url, tmp_path, KILLS, SEEDS[backend], say=lambda _line: None)
    assert counts.problems == []
    assert counts.kills == KILLS
    assert counts.kills_in_run >= 1
    assert counts.succeeded_then_rerun == 0
    assert counts.run_twice_by_one_process == 0
    assert counts.unreadable == 0
    assert counts.not_finished == 0
    assert counts.process_failures == 0
