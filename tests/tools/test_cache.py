"""``cache_set`` / ``cache_get`` on the default SQLite file, on PostgreSQL and on the
real Redis server."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

import plait
from fixtures.services import REDIS_URL
from plait.tools.builtin import cache

VALUE = {"temps": [21.5, 19], "city": "Lyon", "ok": True, "none": None}


def _wf(*steps: dict[str, Any], file: Path | None = None) -> plait.Workflow:
    data = {"name": "cache", "steps": list(steps)}
    return plait.Workflow.from_dict(data, file=str(file) if file else None)


def _set(id: str, key: str, value: Any, **more: Any) -> dict[str, Any]:
    return {"id": id, "tool": "cache_set", "input": {"key": key, "value": value, **more}}


def _get(id: str, key: str, after: str | None = None, **more: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"id": id, "tool": "cache_get", "input": {"key": key, **more}}
    if after is not None:
        step["dependsOn"] = [after]
    return step


def _error(result: plait.RunResult, step: str) -> dict[str, Any]:
    error = result.steps[step].error
    assert error is not None, f"step {step} did not fail: {result.steps[step]}"
    return error


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the default: a SQLite file under .plait/ ----------------------------------------------


async def test_set_then_get_in_the_default_sqlite_file(in_tmp: Path) -> None:
    result = await _wf(
        _set("put", "weather", VALUE),
        _get("got", "weather", after="put"),
        _get("missing", "nothing-here"),
        _get("fallback", "nothing-here", default={"cached": False}),
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["put"].output is None
    assert result.steps["got"].output == VALUE
    assert result.steps["missing"].output is None
    assert result.steps["fallback"].output == {"cached": False}
    assert (in_tmp / ".plait" / "cache.db").is_file()


async def test_the_cache_outlives_the_run_and_a_set_overwrites(in_tmp: Path) -> None:
    await _wf(_set("put", "k", 1)).run()
    await _wf(_set("put", "k", [2])).run()
    result = await _wf(_get("got", "k")).run()
    assert result.steps["got"].output == [2]


async def test_an_expired_key_is_missing_and_purged_by_the_next_set(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _wf(_set("put", "short", "soon gone", ttl="1m"), _set("keep", "long", "stays")).run()
    assert (await _wf(_get("got", "short")).run()).steps["got"].output == "soon gone"

    later = cache._now() + 120
    monkeypatch.setattr(cache, "_now", lambda: later)
    result = await _wf(_get("short", "short", default="expired"), _get("long", "long")).run()
    assert result.steps["short"].output == "expired"
    assert result.steps["long"].output == "stays"

    await _wf(_set("other", "other", 0)).run()
    with sqlite3.connect(in_tmp / ".plait" / "cache.db") as conn:
        keys = sorted(k for (k,) in conn.execute("SELECT key FROM plait_cache"))
    conn.close()
    assert keys == ["long", "other"]


async def test_a_relative_cache_url_is_relative_to_the_workflow_folder(in_tmp: Path) -> None:
    folder = in_tmp / "flows"
    folder.mkdir()
    url = "sqlite:///shared-cache.db"
    result = await _wf(
        _set("put", "k", "v", url=url),
        _get("got", "k", after="put", url=url),
        file=folder / "w.yaml",
    ).run()
    assert result.steps["got"].output == "v"
    assert (folder / "shared-cache.db").is_file()
    assert not (in_tmp / ".plait").exists()


async def test_many_parallel_sets_on_first_use_make_the_table_once(in_tmp: Path) -> None:
    steps = [_set(f"put{i}", f"k{i}", i) for i in range(20)]
    result = await _wf(
        {"id": "all", "parallelGroup": {"steps": [s["id"] for s in steps]}},
        *steps,
        _get("got", "k7", after="all"),
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["got"].output == 7


@pytest.mark.parametrize(
    ("step", "says"),
    [
        (_set("s", "k", 1, ttl=0), "'ttl' must be more than 0"),
        (_set("s", "", 1), "'key' must not be empty"),
        ({"id": "s", "tool": "cache_get", "input": {"default": 1}}, "'key' is required"),
        (_set("s", "k", float("nan")), "must be JSON"),
    ],
)
async def test_bad_input(in_tmp: Path, step: dict[str, Any], says: str) -> None:
    result = await _wf(step).run()
    error = _error(result, "s")
    assert error["type"] == "InputError"
    assert says in error["message"]


@pytest.mark.parametrize(
    ("step", "key", "says"),
    [
        (_set("s", "k", 1, ttl="soon"), "input.ttl", "'ttl' is a duration"),
        (_get("s", "k", ttl="1m"), "input.ttl", "the cache_get tool has no input 'ttl'"),
    ],
)
def test_bad_input_written_in_the_workflow_is_refused_at_validation(
    step: dict[str, Any], key: str, says: str
) -> None:
    with pytest.raises(plait.ValidationError) as raised:
        _wf(step).validate()
    [problem] = raised.value.problems
    assert (problem.step, problem.key) == ("s", key)
    assert says in problem.message


async def test_a_postgres_cache(fresh_postgres_db: str) -> None:
    url = fresh_postgres_db
    result = await _wf(
        _set("put", "k", VALUE, url=url, ttl="1h"),
        _get("got", "k", after="put", url=url),
        _get("missing", "absent", url=url, default=0),
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["got"].output == VALUE
    assert result.steps["missing"].output == 0


# -- Redis -------------------------------------------------------------------------------


async def test_redis_set_get_ttl_and_json_text(redis_prefix: str) -> None:
    import redis

    key, plain = f"{redis_prefix}weather", f"{redis_prefix}plain"
    result = await _wf(
        _set("put", key, VALUE, url=REDIS_URL, ttl="90s"),
        _set("plain", plain, "no expiry", url=REDIS_URL),
        _get("got", key, after="put", url=REDIS_URL),
        _get("missing", f"{redis_prefix}absent", url=REDIS_URL, default="d"),
    ).run()
    assert result.status == "succeeded", result.error
    assert result.steps["got"].output == VALUE
    assert result.steps["missing"].output == "d"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert 0 < client.pttl(key) <= 90_000  # the key expires by itself, in Redis
        assert client.pttl(plain) == -1
        assert client.get(plain) == b'"no expiry"'
    finally:
        client.close()


async def test_a_redis_value_that_is_not_json_is_a_CacheError(redis_prefix: str) -> None:
    import redis

    key = f"{redis_prefix}foreign"
    client = redis.Redis.from_url(REDIS_URL)
    client.set(key, b"\xff not json")
    client.close()
    result = await _wf(_get("got", key, url=REDIS_URL)).run()
    error = _error(result, "got")
    assert error["type"] == "CacheError"
    assert "not JSON" in error["message"]


async def test_an_unreachable_redis_is_a_CacheError_without_the_password() -> None:
    result = await _wf(_get("got", "k", url="redis://:s3cret@127.0.0.1:1/0")).run()
    error = _error(result, "got")
    assert error["type"] == "CacheError"
    assert "s3cret" not in error["message"]


async def test_without_redis_py_a_redis_url_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # import redis.asyncio fails
    result = await _wf(_get("got", "k", url="redis://127.0.0.1:6379/0")).run()
    error = _error(result, "got")
    assert error["type"] == "MissingDependency"
    assert "pip install 'plait[redis]'" in error["message"]
