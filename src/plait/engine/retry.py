"""When a failed attempt is tried again, and after how long (SPEC §1, ``retry``).

    attempt 1 fails ─▶ next_delay() ─▶ None: the step ends with this error
                                   └─▶ d:    wait d seconds holding no slot, queue again

The wait itself, and giving the slot back for it, are the engine's (``Run._attempts``);
this is the pure decision, so it is tested without a clock.
"""

from __future__ import annotations

from collections.abc import Iterable

from plait.compiler.plan import RetryPolicy


def next_delay(
    policy: RetryPolicy | None,
    attempts: int,
    error_types: str | Iterable[str],
    elapsed: float,
    rand: float,
) -> float | None:
    """Seconds to wait before attempt ``attempts + 1``, or None to give up: no policy,
    no attempt left, an error ``retryOn`` does not name (``error_types``: the error's
    type and the names of what it is a kind of, ``RunError.types``), or a next attempt
    that would start after the ``deadline`` (``elapsed``: seconds since the first
    attempt began). Giving up because of the deadline happens now, not after a
    pointless wait."""
    if policy is None or attempts >= policy.max_attempts:
        return None
    names = (error_types,) if isinstance(error_types, str) else tuple(error_types)
    if not policy.retries(*names):
        return None
    delay = policy.delay(attempts, rand)
    if past_deadline(policy, elapsed + delay):
        return None
    return delay


def past_deadline(policy: RetryPolicy, elapsed: float) -> bool:
    """Whether an attempt starting ``elapsed`` seconds after the first would be too late."""
    return policy.deadline is not None and elapsed > policy.deadline
