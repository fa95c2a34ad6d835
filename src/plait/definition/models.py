"""Pydantic models of a workflow definition, exactly as the user wrote it.

Keys are accepted in camelCase (seed 001) and snake_case (seed 002); writing both
spellings of one key in one object is an error. The models are for user input only:
the compiler turns them into frozen dataclasses before anything runs.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from plait.definition.durations import parse_duration
from plait.definition.executor import ExecutorSpec, parse_executor
from plait.definition.limits import DEFAULT_LIMITS, parse_size
from plait.definition.rates import parse_rate

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
# An environment variable's name, as POSIX shells accept it.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENV_NAME = re.compile(ENV_NAME_PATTERN)
# The longest id or name (step, group, workflow, input, pool, signal, environment
# variable): far more than anyone writes, and what every store column holds.
MAX_NAME = 200
# Counts written in the file (a map's or a loop's `count`, a pool's `queueSize`).
MAX_COUNT = 10_000_000
MAX_CONCURRENCY = 1_000_000
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


@functools.lru_cache(maxsize=4096)
def snake_case(key: str) -> str:
    """``maxConcurrent`` → ``max_concurrent``; snake_case keys are returned unchanged.
    Cached: a large workflow spells the same few keys hundreds of thousands of times."""
    return _CAMEL.sub(r"_\1", key).lower()


def _duration(value: object) -> float | None:
    return None if value is None else parse_duration(value)


Duration = Annotated[float | None, BeforeValidator(_duration)]
# ``executor: process`` or ``{type: dask, address: ...}`` (definition/executor.py)
Executor = Annotated[ExecutorSpec | None, BeforeValidator(parse_executor)]


class WaitStrategy(StrEnum):
    """How a group of parallel steps finishes (SPEC §1, "Groups")."""

    ALL = "all"
    ANY = "any"
    ALL_SETTLED = "allSettled"
    RACE = "race"

    @classmethod
    def _missing_(cls, value: object) -> WaitStrategy | None:
        # Accept seed 002's snake_case spelling of allSettled.
        if value == "all_settled":
            return cls.ALL_SETTLED
        return None


class Definition(BaseModel):
    """Base of every definition object: both key spellings, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    # Other accepted spellings of a field, beyond its camelCase form: alias -> field.
    aliases: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _normalize_keys(cls, data: Any) -> Any:
        return normalize_keys(data, cls.model_fields, cls.aliases)


def normalize_keys(data: Any, fields: Collection[str], aliases: Mapping[str, str]) -> Any:
    """Rename camelCase (and aliased) keys to the snake_case field names; refuse both
    spellings of one key. Unknown keys keep the user's spelling for the error."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ValueError(f"keys must be strings, not {key!r}")
        name = aliases.get(key) or snake_case(key)
        if name not in fields:
            name = key
        if name in spelled:
            raise ValueError(
                f"both '{spelled[name]}' and '{key}' are given; they are the same key, keep one"
            )
        spelled[name] = key
        out[name] = value
    return out


class BreakerDef(Definition):
    """A circuit breaker (seed 001's pattern): a pool's ``circuitBreaker``, or a tool's
    entry in the workflow's ``circuitBreakers``."""

    failure_threshold: int = Field(default=5, ge=1, le=1_000_000)
    reset_timeout: Duration = 60.0
    half_open_max: int = Field(default=1, ge=1, le=1_000_000)


class TracingDef(Definition):
    """``tracing:``: trace this workflow's runs with OpenTelemetry (``plait[otel]``).
    ``tracing: true`` is ``tracing: {}``; ``tracing: false`` is no tracing."""

    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    min_step_duration: Duration = 0.0


def _tracing(value: Any) -> Any:
    if value is True:
        return {}
    if value is False or value is None:
        return None
    if not isinstance(value, dict | TracingDef):
        raise ValueError("'tracing' is true, false or a mapping: {sampleRatio, minStepDuration}")
    return value


class AdaptiveDef(Definition):
    """``maxConcurrent: {auto: true, min, max}``: a limit that adapts as calls end (AIMD)."""

    auto: Literal[True] = True
    min: int = Field(default=1, ge=1, le=1_000_000)
    max: int = Field(default=100, ge=1, le=1_000_000)
    initial: int | None = Field(default=None, ge=1, le=1_000_000)
    tolerance: float = Field(default=2.0, gt=1.0, le=1000.0)

    @model_validator(mode="after")
    def _bounds(self) -> AdaptiveDef:
        if self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is more than 'max' ({self.max})")
        if self.initial is not None and not self.min <= self.initial <= self.max:
            raise ValueError(f"'initial' ({self.initial}) is not between 'min' and 'max'")
        return self


def _rate(value: object) -> float | None:
    return None if value is None else parse_rate(value)


def _limit(value: object) -> object:
    """``maxConcurrent``: a number, ``auto``, or ``{auto: true, min, max}``; one clear
    message when it is none of them (a union would report one error per form)."""
    if value == "auto":
        return AdaptiveDef()
    if isinstance(value, dict):
        try:
            return AdaptiveDef.model_validate(value)
        except PydanticValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown key"
            raise ValueError(f"{where + ': ' if where else ''}{message}") from None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise ValueError(
            f"maxConcurrent is a number from 1 to 1,000,000, 'auto', or {{auto: true, min: N, "
            f"max: N}}; not {value!r}"
        )
    return value


Size = Annotated[int, BeforeValidator(parse_size)]


class LimitsDef(Definition):
    """``limits:``: the run's resource limits (``definition/limits.py``)."""

    max_output_size: Size = DEFAULT_LIMITS.max_output_size
    max_run_size: Size = DEFAULT_LIMITS.max_run_size


class PoolDef(Definition):
    """A worker pool: the global ``parallelConfig`` or a named entry of ``pools``."""

    max_concurrent: Annotated[int | AdaptiveDef, BeforeValidator(_limit)] = 10
    queue_size: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    timeout: Duration = None
    rate: Annotated[float | None, BeforeValidator(_rate)] = None
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    circuit_breaker: BreakerDef | None = None

    @model_validator(mode="after")
    def _burst(self) -> PoolDef:
        if self.burst is not None and self.rate is None:
            raise ValueError("'burst' goes with 'rate' (the calls a pool may start per second)")
        return self


class _Declared(Definition):
    """A declared value (an input, an environment variable): required unless it has a
    ``default`` or says ``required: false``."""

    required: bool | None = None
    description: str | None = None

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return "default" not in self.model_fields_set


class InputDef(_Declared):
    """A declared run input, typed like a JSON Schema property."""

    type: Literal["string", "integer", "number", "boolean", "object", "array", "any"] = "any"
    default: Any = None


class EnvDef(_Declared):
    """An environment variable the workflow may read as ``${env.NAME}``.

    Its value is masked (``***``) wherever the run records or prints it, unless
    ``secret: false``. An unset variable with no ``default`` stops the run before it
    starts, unless ``required: false`` (then it reads as null)."""

    default: str | None = None
    secret: bool = True


class BackoffDef(Definition):
    initial: Duration = 1.0
    multiplier: float = Field(default=2.0, ge=1.0, le=100.0)
    max: Duration = 60.0


class RetryDef(Definition):
    """Attempts of one step execution (SPEC §1, common keys)."""

    max_attempts: int = Field(default=3, ge=1, le=1000)
    backoff: BackoffDef = BackoffDef()
    jitter: float | bool = False
    retry_on: list[Annotated[str, Field(max_length=MAX_NAME)]] | None = None
    deadline: Duration = None

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, value: float | bool) -> float | bool:
        # The fraction of each wait that may be cut at random: 0 (none) to 1 (all).
        if not isinstance(value, bool) and not 0.0 <= value <= 1.0:
            raise ValueError(
                f"jitter is a fraction from 0 to 1 (or true, meaning 1), not {value!r}"
            )
        return value


GroupSteps = list[str] | Callable[..., Any]


class SwitchCase(Definition):
    """One route of a ``switch``: ``{when: EXPR, next: ID}``, or ``{default: ID}`` last."""

    when: Any = None
    next: str | list[str] | None = None
    default: str | list[str] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SwitchCase:
        if self.default is not None:
            if self.when is not None or self.next is not None:
                raise ValueError("a 'default' case has no 'when' or 'next'")
        elif self.when is None or self.next is None:
            raise ValueError("a case needs 'when' and 'next' (or is {default: ID})")
        return self

    def targets(self) -> list[str]:
        target = self.default if self.default is not None else self.next
        if target is None:
            return []
        return [target] if isinstance(target, str) else list(target)


class GroupDef(Definition):
    """Seed 001's ``parallelGroup``: members run in parallel and join by a wait strategy."""

    id: str | None = Field(default=None, pattern=STEP_ID_PATTERN, max_length=MAX_NAME)
    steps: GroupSteps
    wait_strategy: WaitStrategy = WaitStrategy.ALL
    max_concurrent: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    continue_on_error: bool = False
    timeout: Duration = None

    @property
    def dynamic(self) -> bool:
        """``steps`` is a callable of the run context (Python API): the members are the
        step definitions it returns when the group starts (seed 001's dynamic groups)."""
        return callable(self.steps)


class MapDef(Definition):
    """``parallel:`` — run a body of inline steps once per item, as branches ``id<N>``."""

    items: Any = None
    count: int | str | None = None
    steps: list[StepDef]
    max_concurrent: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    wait_strategy: WaitStrategy = WaitStrategy.ALL
    continue_on_error: bool = False
    output: Any = None

    @model_validator(mode="after")
    def _source(self) -> MapDef:
        if (self.items is None) == (self.count is None):
            raise ValueError("a map needs exactly one of 'items' (a list) or 'count'")
        _check_count(self.count)
        if not self.steps:
            raise ValueError("a map needs at least one step in 'steps'")
        return self


class LoopType(StrEnum):
    FOR = "for"
    FOR_EACH = "forEach"
    WHILE = "while"
    DO_WHILE = "doWhile"

    @classmethod
    def _missing_(cls, value: object) -> LoopType | None:
        return {"for_each": cls.FOR_EACH, "do_while": cls.DO_WHILE}.get(str(value))


class LoopDef(Definition):
    """``loop:`` — run a body of inline steps again and again, one pass at a time."""

    type: LoopType
    count: int | str | None = None
    items: Any = None
    condition: Any = None
    max_iterations: int | None = Field(default=None, ge=1, le=10_000_000)
    steps: list[StepDef]
    output: Any = None

    @model_validator(mode="after")
    def _fields(self) -> LoopDef:
        needs = {
            LoopType.FOR: "count",
            LoopType.FOR_EACH: "items",
            LoopType.WHILE: "condition",
            LoopType.DO_WHILE: "condition",
        }[self.type]
        for key in ("count", "items", "condition"):
            given = getattr(self, key) is not None
            if key == needs and not given:
                raise ValueError(f"a '{self.type.value}' loop needs '{key}'")
            if key != needs and given:
                raise ValueError(f"'{key}' does not go with a '{self.type.value}' loop")
        if self.type in (LoopType.WHILE, LoopType.DO_WHILE) and self.max_iterations is None:
            raise ValueError(
                f"a '{self.type.value}' loop needs 'maxIterations', so that it cannot run forever"
            )
        _check_count(self.count)
        if not self.steps:
            raise ValueError("a loop needs at least one step in 'steps'")
        return self

    @property
    def limit(self) -> int:
        return self.max_iterations if self.max_iterations is not None else 1000


class WaitDef(Definition):
    """``wait: {signal: NAME}`` (or ``wait: NAME``): pause this branch until the signal is
    given (``plait resume RUN_ID --input NAME=VALUE``); the step outputs its value."""

    signal: str = Field(pattern=STEP_ID_PATTERN, max_length=MAX_NAME)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"signal": data} if isinstance(data, str) else data


@pydantic_dataclass(
    frozen=True, slots=True, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True)
)
class StepDef:
    """One step. Exactly one of: ``tool`` (a task), ``parallelGroup``, ``type: parallel``,
    ``switch``.

    A slotted pydantic dataclass, not a model: a workflow has as many steps as it likes,
    and this costs about 260 bytes a step where a model costs 850 (bench W4)."""

    aliases: ClassVar[dict[str, str]] = {"toolName": "tool", "tool_name": "tool"}

    id: str = Field(pattern=STEP_ID_PATTERN, max_length=MAX_NAME)
    name: str | None = None
    description: str | None = None
    # kind: task
    tool: str | Callable[..., Any] | None = None
    input: Any = None
    # kind: group (seed 001) or parallel (seed 002)
    parallel_group: GroupDef | None = None
    type: Literal["task", "parallel"] | None = None
    parallel_steps: list[str] | None = None
    max_parallelism: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    wait_strategy: WaitStrategy | None = None
    # kind: switch, map, loop
    switch: list[SwitchCase] | None = None
    parallel: MapDef | None = None
    loop: LoopDef | None = None
    # kind: workflow (another workflow as one step: a file, or a registered name), wait
    workflow: str | None = Field(default=None, min_length=1)
    wait: WaitDef | None = None
    # common keys
    when: Any = None
    on_error: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    next_step: str | list[str] | None = None
    timeout: Duration = None
    retry: RetryDef | None = None
    pool: str | None = None
    continue_on_error: bool = False
    output: Any = None
    # where it runs (issue 7); `isolation: process` is `executor: process` (issue 5)
    executor: Executor = None
    isolation: Literal["process"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize_keys(cls, data: Any) -> Any:
        return normalize_keys(data, _STEP_FIELDS, StepDef.aliases)

    @classmethod
    def model_validate(cls, data: Any) -> StepDef:
        """Validate one step from its mapping (as a model's ``model_validate``)."""
        return _STEP_ADAPTER.validate_python(data)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> StepDef:
        kinds = [
            key
            for key, present in (
                ("tool", self.tool is not None),
                ("parallelGroup", self.parallel_group is not None),
                ("type: parallel", self.type == "parallel"),
                ("switch", self.switch is not None),
                ("parallel", self.parallel is not None),
                ("loop", self.loop is not None),
                ("workflow", self.workflow is not None),
                ("wait", self.wait is not None),
            )
            if present
        ]
        if not kinds:
            raise ValueError(
                "a step needs one of 'tool' (or 'toolName'), 'parallelGroup', "
                "'type: parallel' with 'parallel_steps', 'switch', 'parallel' (a map), 'loop', "
                "'workflow' or 'wait'"
            )
        if len(kinds) > 1:
            raise ValueError(f"a step is exactly one kind, but this one has {' and '.join(kinds)}")
        if self.type == "parallel" and self.parallel_steps is None:
            raise ValueError("'type: parallel' needs 'parallel_steps', the list of member ids")
        if self.parallel_steps is not None and self.type != "parallel":
            raise ValueError("'parallel_steps' goes with 'type: parallel'")
        group_only = ("max_parallelism", "wait_strategy")
        if self.type != "parallel":
            for key in group_only:
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' goes with 'type: parallel'")
        return self

    @field_validator("switch")
    @classmethod
    def _switch(cls, value: list[SwitchCase] | None) -> list[SwitchCase] | None:
        if value is not None:
            _check_switch(value)
        return value

    @property
    def kind(self) -> Literal["task", "group", "switch", "map", "loop", "workflow", "wait"]:
        if self.tool is not None:
            return "task"
        if self.workflow is not None:
            return "workflow"
        if self.wait is not None:
            return "wait"
        if self.switch is not None:
            return "switch"
        if self.parallel is not None:
            return "map"
        return "loop" if self.loop is not None else "group"

    def body(self) -> list[StepDef]:
        """A map's or a loop's inline steps."""
        if self.parallel is not None:
            return self.parallel.steps
        return self.loop.steps if self.loop is not None else []

    def group(self) -> GroupDef | None:
        """The step's group in seed 001's form, whichever spelling the user wrote."""
        if self.parallel_group is not None:
            return self.parallel_group
        if self.type == "parallel":
            group = GroupDef(
                id=self.id,
                steps=list(self.parallel_steps or []),
                wait_strategy=self.wait_strategy or WaitStrategy.ALL,
                max_concurrent=self.max_parallelism,
                continue_on_error=self.continue_on_error,
            )
            # ``self.timeout`` is already in seconds: through the constructor it would be
            # read again as a number of milliseconds.
            return group.model_copy(update={"timeout": self.timeout})
        return None

    def next_steps(self) -> list[str]:
        if self.next_step is None:
            return []
        return [self.next_step] if isinstance(self.next_step, str) else list(self.next_step)


def _check_switch(cases: list[SwitchCase]) -> None:
    if not cases:
        raise ValueError("'switch' needs at least one case")
    for i, case in enumerate(cases):
        if case.default is not None and i != len(cases) - 1:
            raise ValueError(f"switch case {i + 1}: 'default' must be the last case")


_STEP_FIELDS = frozenset(field.name for field in dataclasses.fields(StepDef))
MapDef.model_rebuild()
LoopDef.model_rebuild()
_STEP_ADAPTER = TypeAdapter(StepDef)


class WorkflowDef(Definition):
    """A whole workflow file."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = None
    version: str | int | float | None = None
    inputs: dict[str, InputDef] = {}
    env: dict[str, EnvDef] = {}
    parallel_config: PoolDef = PoolDef()
    max_duration: Duration = None
    pools: dict[str, PoolDef] = {}
    circuit_breakers: dict[str, BreakerDef] = {}
    steps: list[StepDef] = Field(default_factory=list)
    outputs: Any = None
    executor: Executor = None  # where steps run unless a step says otherwise
    tracing: Annotated[TracingDef | None, BeforeValidator(_tracing)] = None
    limits: LimitsDef = LimitsDef()

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        # `inputs: {n: 5}` is shorthand for `inputs: {n: {default: 5}}`.
        if isinstance(value, dict):
            return {
                k: v if isinstance(v, dict | InputDef) else {"default": v} for k, v in value.items()
            }
        return value

    @field_validator("inputs", "pools", "circuit_breakers")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            check_name(name, "name")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        # `env: [API_KEY]` declares names; `env: {REGION: eu-west-1}` gives a default.
        if isinstance(value, list):
            if not all(isinstance(name, str) for name in value):
                raise ValueError("'env' lists variable names (strings)")
            for name in value:
                check_env_name(name)
            return {name: {} for name in value}
        if isinstance(value, dict):
            for name in value:
                check_env_name(name)
            return {
                k: {"default": str(v)}
                if isinstance(v, str | int | float) and not isinstance(v, bool)
                else {}
                if v is None
                else v
                for k, v in value.items()
            }
        return value


def check_name(name: object, what: str) -> None:
    """A name the file gives (an input, a pool): text of 1 to ``MAX_NAME`` characters."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {what} is text of 1 to {MAX_NAME} characters, not {name!r}")
    if len(name) > MAX_NAME:
        raise ValueError(f"{what} {name[:40]!r}... is longer than {MAX_NAME} characters")


def check_env_name(name: object) -> None:
    """An environment variable's name: letters, digits and ``_``, not starting with a
    digit (``API_TOKEN``); ``ValueError`` otherwise."""
    if isinstance(name, str) and len(name) > MAX_NAME:
        raise ValueError(
            f"environment variable name {name[:40]!r}... is longer than {MAX_NAME} characters"
        )
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise ValueError(
            f"{name!r} is not an environment variable name: use letters, digits and '_', "
            "not starting with a digit"
        )


def _check_count(count: int | str | None) -> None:
    """A map's or a loop's ``count`` written as a number (an expression is checked when
    it is evaluated)."""
    if isinstance(count, int) and count < 0:
        raise ValueError("'count' must be 0 or more")
    if isinstance(count, int) and count > MAX_COUNT:
        raise ValueError(f"'count' must be at most {MAX_COUNT:,}, not {count}")
