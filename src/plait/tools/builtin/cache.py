"""``cache_set`` and ``cache_get`` (seed 001's names): a small key-value cache.

::

    cache_set   key, value, ttl (a duration; none: kept until overwritten), url  → null
    cache_get   key, default (null unless given), url          → the value, or default

Values are stored as JSON text, so ``cache_get`` gives back what ``cache_set`` was given
(a mapping, a list, a number...). A missing or expired key gives ``default``.

``url`` picks where the cache lives:

- nothing: the SQLite file ``.plait/cache.db`` in the working directory, so the cache
  outlives the run (as the store in ``.plait/plait.db`` does);
- any URL or path the ``sql`` tool takes (SQLite, PostgreSQL): a table ``plait_cache``
  made on first use, reached through the run's pooled engine for that URL;
- ``redis://``, ``rediss://`` or ``unix://``: Redis, through redis-py's asyncio client
  (``pip install 'plait[redis]'``), one client per URL per run, closed at the run's end;
  a ``ttl`` becomes the key's own expiry.

Error types: ``CacheError`` (the backend failed, or a stored value is not JSON),
``MissingDependency`` (redis-py is not installed), ``InputError``; a SQL backend fails
with the ``sql`` tool's types.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plait.errors import StepError
from plait.tools.builtin._args import check_keys, duration, mapping, text
from plait.tools.builtin.sql import execute
from plait.tools.context import StepContext
from plait.tools.registry import Tool

if TYPE_CHECKING:
    import redis.asyncio

DEFAULT_FILE = Path(".plait") / "cache.db"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

CREATE = (
    "CREATE TABLE IF NOT EXISTS plait_cache "
    "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at DOUBLE PRECISION)"
)
PURGE = "DELETE FROM plait_cache WHERE expires_at <= :now"
UPSERT = (
    "INSERT INTO plait_cache (key, value, expires_at) VALUES (:key, :value, :expires_at) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
SELECT = (
    "SELECT value FROM plait_cache WHERE key = :key AND (expires_at IS NULL OR expires_at > :now)"
)


def _now() -> float:
    """Wall-clock seconds: an expiry must mean the same in the next run (tests replace it)."""
    return time.time()


async def cache_set(value: Any, ctx: StepContext) -> None:
    args = mapping(value, "cache_set")
    check_keys(args, frozenset({"key", "value", "ttl", "url"}), "cache_set")
    key = _key(args, "cache_set")
    payload = _encode(args.get("value"))
    ttl = _ttl(args)
    url = text(args, "url", "cache_set")
    if url is not None and url.startswith(REDIS_SCHEMES):
        client = _redis(ctx, url, "cache_set")
        px = max(1, round(ttl * 1000)) if ttl is not None else None
        await _redis_call(client.set(key, payload, px=px), url, "cache_set")
        return
    now = _now()
    expires_at = now + ttl if ttl is not None else None
    upsert = {"key": key, "value": payload, "expires_at": expires_at}
    await _sql(ctx, url, [(PURGE, {"now": now}), (UPSERT, upsert)], "cache_set")


async def cache_get(value: Any, ctx: StepContext) -> Any:
    args = mapping(value, "cache_get")
    check_keys(args, frozenset({"key", "default", "url"}), "cache_get")
    key = _key(args, "cache_get")
    url = text(args, "url", "cache_get")
    if url is not None and url.startswith(REDIS_SCHEMES):
        client = _redis(ctx, url, "cache_get")
        stored = await _redis_call(client.get(key), url, "cache_get")
    else:
        rows = await _sql(ctx, url, [(SELECT, {"key": key, "now": _now()})], "cache_get")
        stored = rows[0]["value"] if rows else None
    if stored is None:
        return args.get("default")
    try:
        return json.loads(stored)
    except ValueError:
        raise StepError(
            f"cache_get: the value under {key!r} is not JSON; was it written by something "
            "other than cache_set?",
            type="CacheError",
        ) from None


def _key(args: dict[str, Any], tool: str) -> str:
    key = text(args, "key", tool, required=True)
    if not key:
        raise StepError(f"{tool}: 'key' must not be empty", type="InputError")
    return key


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StepError(f"cache_set: 'value' must be JSON: {exc}", type="InputError") from None


def _ttl(args: dict[str, Any]) -> float | None:
    if args.get("ttl") is None:
        return None
    ttl = duration(args, "ttl", "cache_set")
    if ttl <= 0:
        raise StepError(
            "cache_set: 'ttl' must be more than 0; leave it out to keep the value until it "
            "is overwritten",
            type="InputError",
        )
    return ttl


# -- SQL ---------------------------------------------------------------------------------


async def _sql(
    ctx: StepContext, url: str | None, statements: list[tuple[str, Any]], tool: str
) -> Any:
    if url is None:
        path = Path.cwd() / DEFAULT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        url = str(path)
    await _ensure_table(ctx, url, tool)
    return await execute(ctx, url, statements, tool=tool)


async def _ensure_table(ctx: StepContext, url: str, tool: str) -> None:
    """Create the table once per run and URL: concurrent CREATE TABLE IF NOT EXISTS can
    collide in PostgreSQL's catalog, so the run's steps queue behind the first."""
    key = f"plait.cache.table:{url}"
    state: _TableState | None = ctx.resources.get(key)
    if state is None:
        state = ctx.resources[key] = _TableState()
    if state.ready:
        return
    async with state.lock:
        if not state.ready:
            await execute(ctx, url, [(CREATE, {})], tool=tool)
            state.ready = True


class _TableState:
    __slots__ = ("lock", "ready")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.ready = False


# -- Redis -------------------------------------------------------------------------------


def _redis(ctx: StepContext, url: str, tool: str) -> redis.asyncio.Redis:
    """The run's client for ``url``, made on first use and closed when the run ends."""
    key = f"plait.cache.redis:{url}"
    client: redis.asyncio.Redis | None = ctx.resources.get(key)
    if client is None:
        try:
            import redis.asyncio
        except ImportError:
            raise StepError(
                f"{tool}: a Redis URL needs redis-py: pip install 'plait[redis]'",
                type="MissingDependency",
            ) from None
        try:
            client = redis.asyncio.Redis.from_url(url)
        except ValueError as exc:
            raise StepError(f"{tool}: bad Redis 'url': {exc}", type="InputError") from None
        ctx.resources[key] = client
    return client


async def _redis_call(call: Any, url: str, tool: str) -> Any:
    import redis.exceptions

    try:
        return await call
    except redis.exceptions.RedisError as exc:
        where = url.split("@", 1)[-1]  # never print a password
        raise StepError(f"{tool}: Redis at {where}: {exc}", type="CacheError") from None


CACHE_SET = Tool(
    "cache_set",
    cache_set,
    is_async=True,
    style="input",
    wants_ctx=True,
    description="store `value` under `key` (JSON), optionally for `ttl`",
    inputs={"key": "string", "value": "any", "ttl": "duration", "url": "string"},
)
CACHE_GET = Tool(
    "cache_get",
    cache_get,
    is_async=True,
    style="input",
    wants_ctx=True,
    description="the value under `key`, or `default` when missing or expired",
    inputs={"key": "string", "default": "any", "url": "string"},
)
