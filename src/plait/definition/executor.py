"""Where steps run, as the user wrote it: ``executor:`` in a file, ``--executor`` on the
command line, ``executor=`` in Python (issue 7).

    executor: local                                   # the default
    executor: process                                 # a pool of worker processes
    executor: dask                                    # a LocalCluster started for the run
    executor: dask://scheduler:8786                   # an existing Dask cluster
    executor: {type: dask, address: tcp://h:8786, maxInFlight: 500}
    executor: {type: process, workers: 4}

Data only: ``plait.executors`` turns an ``ExecutorSpec`` into a running executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ExecutorType = Literal["local", "process", "dask"]
TYPES: tuple[ExecutorType, ...] = ("local", "process", "dask")
_KEYS = {
    "type": "type",
    "address": "address",
    "maxInFlight": "max_in_flight",
    "max_in_flight": "max_in_flight",
    "workers": "workers",
}


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """An executor choice. Equal specs share one executor within a run.

    ``workers``: threads (``local``), processes (``process``) or the local cluster's
    workers (``dask`` without ``address``). ``max_in_flight``: at most this many Dask
    futures at once (``dask`` only; default 1000).
    """

    type: ExecutorType = "local"
    address: str | None = None
    max_in_flight: int | None = None
    workers: int | None = None

    @classmethod
    def parse(cls, value: object) -> ExecutorSpec:
        """From a string (``process``, ``dask://HOST:PORT``) or a mapping; ``ValueError``
        says what is wrong and what is accepted."""
        if isinstance(value, ExecutorSpec):
            return value
        if isinstance(value, str):
            return _from_text(value.strip())
        if isinstance(value, Mapping):
            return _from_mapping(value)
        raise ValueError(
            f"an executor is a string ({_FORMS}) or a mapping {{type, address, maxInFlight, "
            f"workers}}, not {type(value).__name__}"
        )

    def __str__(self) -> str:
        text: str = self.type
        if self.address is not None:
            text = f"dask at {self.address}"
        extra = [
            f"{name}={value}"
            for name, value in (("workers", self.workers), ("maxInFlight", self.max_in_flight))
            if value is not None
        ]
        return f"{text} ({', '.join(extra)})" if extra else text


LOCAL = ExecutorSpec()
_FORMS = "'local', 'process', 'dask' or 'dask://HOST:PORT'"


def _from_text(text: str) -> ExecutorSpec:
    if text in TYPES:
        return ExecutorSpec(text)
    scheme, sep, rest = text.partition("://")
    if sep and scheme == "dask":
        if not rest or "/" in rest:
            raise ValueError(f"{text!r}: write the scheduler as dask://HOST:PORT")
        return ExecutorSpec("dask", address=f"tcp://{rest}")
    if sep and scheme in ("tcp", "tls", "ucx", "inproc"):
        return ExecutorSpec("dask", address=text)
    raise ValueError(f"unknown executor {text!r}; use {_FORMS}")


def _from_mapping(data: Mapping[Any, Any]) -> ExecutorSpec:
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name = _KEYS.get(str(key))
        if name is None:
            raise ValueError(f"unknown key {key!r} in executor; the keys are {_key_list()}")
        if name in fields:
            raise ValueError(f"both spellings of '{name}' are given in executor; keep one")
        fields[name] = value
    kind = fields.pop("type", None)
    if kind is None and "address" in fields:
        kind = "dask"
    if kind not in TYPES:
        raise ValueError(f"executor 'type' must be one of {', '.join(TYPES)}, not {kind!r}")
    address = fields.get("address")
    if address is not None:
        spec = _from_text(str(address) if "://" in str(address) else f"dask://{address}")
        address = spec.address
    for name in ("max_in_flight", "workers"):
        count = fields.get(name)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise ValueError(f"executor '{name}' must be a whole number, not {count!r}")
        if count is not None and count < 1:
            raise ValueError(f"executor '{name}' must be 1 or more, not {count}")
    spec = ExecutorSpec(kind, address, fields.get("max_in_flight"), fields.get("workers"))
    _check_combination(spec)
    return spec


def _check_combination(spec: ExecutorSpec) -> None:
    if spec.type != "dask" and spec.address is not None:
        raise ValueError("'address' goes with type 'dask'")
    if spec.type != "dask" and spec.max_in_flight is not None:
        raise ValueError("'maxInFlight' goes with type 'dask'")
    if spec.address is not None and spec.workers is not None:
        raise ValueError(
            "'workers' sizes the local cluster plait starts; a cluster at an 'address' has "
            "its own workers"
        )


def _key_list() -> str:
    return "type, address, maxInFlight, workers"


def parse_executor(value: object) -> ExecutorSpec | None:
    """The validator of an ``executor`` key: ``None`` stays unset."""
    return None if value is None else ExecutorSpec.parse(value)
