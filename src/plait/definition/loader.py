"""YAML/JSON → ``WorkflowDef``, collecting every problem with the file, step and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import yaml

from plait.definition.models import StepDef, WorkflowDef, snake_case
from plait.definition.no_gc import paused_gc
from plait.errors import LoadError, Problem, ValidationError

# A workflow file is configuration: refuse anything large enough to be a mistake or an attack.
MAX_FILE_BYTES = 16 * 1024 * 1024


class Loaded:
    """A parsed definition and what is known about where it came from."""

    __slots__ = ("bad_step_ids", "definition", "file", "problems", "source")

    def __init__(
        self,
        definition: WorkflowDef | None,
        problems: list[Problem],
        file: str | None,
        source: str | None,
        bad_step_ids: set[str],
    ) -> None:
        self.definition = definition
        self.problems = problems
        self.file = file
        self.source = source
        # Ids of steps that failed schema validation: later checks treat them as known,
        # so one typo is reported once, not again by every step that refers to it.
        self.bad_step_ids = bad_step_ids


def read_document(path: str | Path) -> tuple[Any, str]:
    """Read and parse a YAML or JSON file; return the data and the text."""
    path = Path(path)
    name = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise LoadError(Problem(f"file is larger than {MAX_FILE_BYTES} bytes", file=name))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError(Problem("no such file", file=name)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(Problem(f"cannot read the file: {exc}", file=name)) from None
    return parse_text(text, name, json_only=path.suffix.lower() == ".json"), text


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping.

    YAML requires unique keys, but PyYAML keeps the last one and silently drops the
    first: ``dependsOn: [a]`` ... ``dependsOn: [b]`` would lose ``a``.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key_node.value!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_text(text: str, file: str | None, *, json_only: bool = False) -> Any:
    if json_only:
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except _DuplicateKey as exc:
            raise LoadError(
                Problem(f"invalid JSON: the key {exc.args[0]!r} is given twice in one object", file)
            ) from None
        except json.JSONDecodeError as exc:
            raise LoadError(
                Problem(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file)
            ) from None
        except RecursionError:
            raise LoadError(Problem("invalid JSON: nested too deeply", file)) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LoadError(Problem(f"invalid YAML{where}: {exc.problem}", file)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise LoadError(Problem(f"invalid YAML: {exc}", file)) from None


def load_definition(path: str | Path) -> Loaded:
    """Read a workflow file and validate its schema. Raises ``LoadError`` only if unreadable."""
    data, text = read_document(path)
    return parse_definition(data, file=str(path), source=text)


def parse_definition(data: Any, *, file: str | None = None, source: str | None = None) -> Loaded:
    """Validate raw data against the schema, one step at a time, so every problem is found."""
    with paused_gc():
        return _parse(data, file, source)


def _parse(data: Any, file: str | None, source: str | None) -> Loaded:
    if not isinstance(data, dict):
        problem = Problem(
            f"a workflow is a mapping with 'name' and 'steps'; this one is {_what(data)}"
        )
        return Loaded(None, [_in_file(problem, file)], file, source, set())
    problems: list[Problem] = []
    raw_steps = data.get("steps", [])
    steps: list[StepDef] = []
    bad_ids: set[str] = set()
    if not isinstance(raw_steps, list):
        problems.append(Problem("'steps' must be a list of steps", file, key="steps"))
        raw_steps = []
    for index, raw in enumerate(raw_steps):
        step_id = raw.get("id") if isinstance(raw, dict) else None
        label = step_id if isinstance(step_id, str) else f"#{index + 1}"
        if isinstance(raw, StepDef):
            steps.append(raw)
            continue
        if not isinstance(raw, dict):
            message = f"a step is a mapping with an 'id'; this one is {_what(raw)}"
            problems.append(Problem(message, file, label))
            continue
        try:
            steps.append(StepDef.model_validate(raw))
        except pydantic.ValidationError as exc:
            problems.extend(_problems(exc, file, label, raw))
            if isinstance(step_id, str):
                bad_ids.add(step_id)
    rest = {k: v for k, v in data.items() if k != "steps"}
    try:
        # The steps are validated already: add them without a second validation.
        definition: WorkflowDef | None = WorkflowDef.model_validate(rest).model_copy(
            update={"steps": steps}
        )
    except pydantic.ValidationError as exc:
        problems.extend(_problems(exc, file, None, data))
        definition = None
    return Loaded(definition, problems, file, source, bad_ids)


_KINDS = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}


def _what(value: Any) -> str:
    if value is None:
        return "empty"
    return _KINDS.get(type(value), f"a {type(value).__name__}")


def require_valid(loaded: Loaded) -> WorkflowDef:
    if loaded.problems or loaded.definition is None:
        raise ValidationError(loaded.problems)
    return loaded.definition


def _in_file(problem: Problem, file: str | None) -> Problem:
    return Problem(problem.message, file, problem.step, problem.key)


def _problems(
    exc: pydantic.ValidationError, file: str | None, step: str | None, raw: Any
) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "enum" and "expected" in err.get("ctx", {}):
            message = f"unknown value {err['input']!r}; expected {err['ctx']['expected']}"
        out.append(Problem(message, file, step, _user_key(raw, err["loc"])))
    return out


def _user_key(raw: Any, loc: tuple[str | int, ...]) -> str | None:
    """The key path of an error as the user spelled it: ``parallelGroup.waitStrategy``.

    Pydantic names fields in snake_case and adds union tags (``tool.str``); walk the
    user's data along the path to recover their spelling, and drop parts that name no data.
    """
    path = ""
    current = raw
    for part in loc:
        if isinstance(current, dict):
            key = _spelled(current, str(part))
            path = f"{path}.{key or part}" if path else (key or str(part))
            current = current.get(key) if key is not None else None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path = f"{path}[{part}]"
            current = current[part]
        else:
            break
    return path or None


def _spelled(data: dict[Any, Any], field: str) -> str | None:
    if field in data:
        return field
    for key in data:
        if isinstance(key, str) and field in (snake_case(key), StepDef.aliases.get(key)):
            return key
    return None
