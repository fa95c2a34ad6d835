"""YAML/JSON → ``WorkflowDef``, collecting every problem with the file, step and key."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pydantic
import yaml

from plait.definition.models import StepDef, WorkflowDef, snake_case
from plait.definition.no_gc import paused_gc
from plait.definition.positions import Positions
from plait.errors import LoadError, Problem, ValidationError, did_you_mean

# A workflow file is configuration: refuse anything large enough to be a mistake or an attack.
MAX_FILE_BYTES = 16 * 1024 * 1024


class Loaded:
    """A parsed definition and what is known about where it came from."""

    __slots__ = ("_positions", "bad_step_ids", "definition", "file", "problems", "source")

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
        self._positions: Positions | None = None

    def located(self, problems: list[Problem]) -> list[Problem]:
        """``problems`` with the line and column of each one of this file (its step and
        key looked up in the text): found only when there are problems to tell."""
        if self.file is None or self.source is None:
            return problems
        out = []
        for problem in problems:
            if problem.file == self.file and problem.line is None:
                if self._positions is None:
                    json_only = self.file.lower().endswith(".json")
                    self._positions = Positions(self.source, json_only=json_only)
                at = self._positions.locate(problem.step, problem.key, problem.message)
                if at is not None:
                    problem = dataclasses.replace(problem, line=at[0], column=at[1])
            out.append(problem)
        return out


def read_document(path: str | Path, *, quote: bool = True) -> tuple[Any, str]:
    """Read and parse a YAML or JSON file; return the data and the text.

    ``quote=False``: no problem quotes the file's text (not a byte, a key or a value),
    for a file a workflow names rather than the user (a sub-workflow: issue 19)."""
    path = Path(path)
    text = read_text_file(path, quote=quote)
    json_only = path.suffix.lower() == ".json"
    return parse_text(text, str(path), json_only=json_only, quote=quote), text


def read_text_file(path: str | Path, *, quote: bool = True) -> str:
    """A workflow (or inputs) file's text, or ``LoadError`` in one line.

    Only a regular file is read, and at most ``MAX_FILE_BYTES`` of it: a FIFO would
    block forever, ``/dev/zero`` would never end (its size says 0), a folder or a socket
    cannot be read as text. The text must be UTF-8 with no NUL byte (a binary file).
    """
    name = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LoadError(Problem("no such file", file=name)) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        with contextlib.suppress(OSError, ValueError):
            _check_regular(os.stat(path).st_mode, name)  # a socket cannot even be opened
        raise LoadError(Problem(f"cannot read the file: {_os_reason(exc)}", file=name)) from None
    try:
        try:
            _check_regular(os.fstat(fd).st_mode, name)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as f:
            data: bytes = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:  # /proc/self/mem, a file on a failing disk
        raise LoadError(Problem(f"cannot read the file: {_os_reason(exc)}", file=name)) from None
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(
            Problem(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", file=name)
        )
    return _decode(data, name, quote)


_NOT_FILES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (a named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((what for test, what in _NOT_FILES if test(mode)), "not a regular file")
    raise LoadError(Problem(f"this is {kind}, not a file plait can read", file=name))


def _decode(data: bytes, name: str, quote: bool = True) -> str:
    """UTF-8 text without NUL bytes; ``quote=False``: the error names no byte of it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        byte = f"byte 0x{data[exc.start]:02x} " if quote else "a byte "
        raise LoadError(
            Problem(
                f"the file is not UTF-8 text: {byte}at line {line}, column {column}",
                file=name,
            )
        ) from None
    if "\x00" in text:
        line, column = _position(data, data.index(0))
        raise LoadError(
            Problem(
                f"the file is binary, not YAML or JSON text: a NUL byte at line {line}, "
                f"column {column}",
                file=name,
            )
        )
    return text


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (from 1, the column in bytes) of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _os_reason(exc: BaseException) -> str:
    """An OS error's reason without the path it repeats: ``permission denied``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping, aliases that
    make a structure recursive or expand without bound, and values it cannot build.

    YAML requires unique keys, but PyYAML keeps the last one and silently drops the
    first: ``dependsOn: [a]`` ... ``dependsOn: [b]`` would lose ``a``. An alias is a
    reference: ten aliases of ten aliases of ... ("billion laughs") make 10**9 values
    from a few hundred bytes, which every later walk over the data would visit.
    """

    # A document with no anchor (`&name`) has no alias: the walk is skipped.
    may_alias = True

    def get_single_node(self) -> yaml.Node | None:
        node: yaml.Node | None = super().get_single_node()
        if node is not None and self.may_alias:
            _check_aliases(node)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # `2024-13-01`, 5,000 digits, `!!float x`, `!!int ''`
            kind = node.tag.rsplit(":", 1)[-1]
            if "digits" in str(exc):
                reason = "it has too many digits"
            elif isinstance(exc, ValueError):
                reason = str(exc)
            else:
                shown = node.value[:60] if isinstance(node.value, str) else "this"
                reason = f"{shown!r} is not one"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {kind}: {reason}", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # `!!map x`: PyYAML says what is wrong
            return super().construct_mapping(node, deep=deep)
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


# Values that aliases may add to a document beyond the ones written: far more than any
# workflow repeats, far less than what would take minutes to walk.
MAX_ALIAS_EXPANSION = 1_000_000


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a node graph with a cycle (an alias inside its own anchor) or whose aliases
    expand to over ``MAX_ALIAS_EXPANSION`` more values than the graph holds. Iterative:
    a document nested as deep as the parser allows must not overflow the stack here."""
    # Capped, so that sizes stay small numbers: a document within the limit has no
    # node, its root included, that expands to more than this.
    cap = _count_nodes(root) + MAX_ALIAS_EXPANSION + 1
    sizes: dict[int, int] = {}  # id(node) -> values it expands to (capped)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = min(cap, 1 + sum(sizes[id(c)] for c in children))
            continue
        if key in sizes:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "an alias refers to itself from inside its own anchor (a recursive structure)",
                    child.start_mark,
                )
            stack.append((child, False))
    if sizes[id(root)] - len(sizes) > MAX_ALIAS_EXPANSION:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"its aliases expand to more than {MAX_ALIAS_EXPANSION:,} values; write the "
            "repeated parts with fewer aliases of aliases",
            None,
        )


def _count_nodes(root: yaml.Node) -> int:
    """The distinct nodes of a graph (an alias is the node it refers to)."""
    seen = {id(root)}
    stack = [root]
    while stack:
        for child in _children(stack.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_text(text: str, file: str | None, *, json_only: bool = False, quote: bool = True) -> Any:
    """``quote=False``: a problem says where (line, column) and never quotes the text."""
    if json_only:
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except _DuplicateKey as exc:
            key = f" {exc.args[0]!r}" if quote else ""
            raise LoadError(
                Problem(f"invalid JSON: the key{key} is given twice in one object", file)
            ) from None
        except json.JSONDecodeError as exc:
            reason = f": {_json_reason(exc.msg)}" if quote else ""
            raise LoadError(
                Problem(f"invalid JSON{reason}", file, line=exc.lineno, column=exc.colno)
            ) from None
        except RecursionError:
            raise LoadError(Problem("invalid JSON: nested too deeply", file)) from None
        except ValueError as exc:  # a number of over 4,300 digits (int's own limit)
            reason = "a number has too many digits" if "digits" in str(exc) else str(exc)
            raise LoadError(Problem(f"invalid JSON: {reason}", file)) from None
    try:
        loader = _UniqueKeyLoader(text)  # a SafeLoader: no arbitrary objects
        loader.may_alias = "&" in text
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        # PyYAML's and our own words may quote a character, a key or a value of the text
        reason = f": {yaml_reason(exc)}" if quote else " (validate that file itself to see why)"
        raise LoadError(Problem(f"invalid YAML{reason}", file, line=line, column=column)) from None
    except yaml.reader.ReaderError as exc:  # a control character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        what = f"the character U+{char:04X} is not allowed in YAML" if quote else "not YAML"
        raise LoadError(Problem(f"invalid YAML: {what}", file, line=line, column=column)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        if not quote:
            reason = " (nested too deeply, or not YAML)"
        elif isinstance(exc, RecursionError):
            reason = ": nested too deeply"
        else:
            reason = f": {yaml_reason(exc)}"
        raise LoadError(Problem(f"invalid YAML{reason}", file)) from None


def yaml_node(text: str) -> yaml.Node | None:
    """The node tree of YAML text, read as ``parse_text`` reads it (for positions)."""
    loader = _UniqueKeyLoader(text)
    loader.may_alias = "&" in text
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


# PyYAML's words for what is wrong, and plait's. The first pattern that matches wins.
_YAML_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (
            r"mapping values are not allowed",
            "a ':' where a value was expected: quote the "
            "value if it holds ': ', or check the indentation",
        ),
        (r"expected ',' or '\]'", "a '[' list is not closed by ']'"),
        (r"expected ',' or '\}'", "a '{' mapping is not closed by '}'"),
        (r"expected <block end>", "this line's indentation does not match the lines above it"),
        (r"could not find expected ':'", "a key without ':' (or a line indented too little)"),
        (
            r"found undefined alias '(?P<name>[^']*)'",
            "the alias *{name} names no anchor &{name} written before it",
        ),
        (r"expected '<document start>'", "more text after the end of the document"),
        (
            r"found unknown escape character '(?P<name>[^']*)'",
            "an unknown escape \\{name} in a double-quoted string: write it in single quotes",
        ),
        (r"found character '\\t' that cannot start", "a tab: YAML indents with spaces"),
        (
            r"found character '(?P<name>.)' that cannot start",
            "'{name}' cannot start a value: quote the value",
        ),
        (r"unexpected end of stream", "a quoted string is not closed"),
        (
            r"but found '<stream end>'",
            "the file ends where more was expected: is a '[', a '{' or a quote not closed?",
        ),
        (r"expected the node content", "a value was expected here"),
        (
            r"could not determine a constructor for the tag '(?P<name>[^']*)'",
            "the tag {name} is not allowed: a workflow is plain YAML data",
        ),
        (r"found duplicate anchor", "the same anchor is written twice"),
        (r"expected alphabetic or numeric character", "an anchor or alias needs a name"),
        (r"expected a (mapping|sequence|scalar) node", "a tag that does not fit its value"),
    )
)


def yaml_reason(exc: yaml.YAMLError) -> str:
    """What is wrong, in plait's words rather than PyYAML's (``ours``: the loader's own
    words, kept as they are)."""
    problem = str(getattr(exc, "problem", "") or "")
    if (
        getattr(exc, "context", "x") is None
        and isinstance(exc, yaml.constructor.ConstructorError)
        and not problem.startswith("could not determine")
    ):
        return problem  # the loader's own words (a key given twice, a recursive alias)
    for pattern, words in _YAML_REASONS:
        match = pattern.search(problem)
        if match:
            name = match.groupdict().get("name")
            return words.replace("{name}", name) if name is not None else words
    return "this is not valid YAML here"


def _json_reason(msg: str) -> str:
    """``json``'s words for what is wrong, in plain words."""
    return {
        "Expecting value": "a value was expected here",
        "Expecting ',' delimiter": "a ',' was expected here",
        "Expecting ':' delimiter": "a ':' was expected here",
        "Expecting property name enclosed in double quotes": "a key in double quotes was "
        "expected here (no trailing commas in JSON)",
        "Extra data": "more text after the end of the document",
        "Unterminated string starting at": "a string is not closed",
        "Invalid control character at": "a control character inside a string",
    }.get(msg, msg[:1].lower() + msg[1:])


def load_definition(path: str | Path, *, quote: bool = True) -> Loaded:
    """Read a workflow file and validate its schema. Raises ``LoadError`` only if unreadable.

    ``quote=False`` (a file another workflow names): a file that cannot be read, cannot
    be parsed, or is not a mapping with a list of ``steps`` gives one problem that says
    what is wrong without quoting any of its text, so pointing ``workflow:`` at a
    secret never echoes it."""
    data, text = read_document(path, quote=quote)
    if not quote and not (isinstance(data, dict) and isinstance(data.get("steps"), list)):
        what = "a mapping with no list of 'steps'" if isinstance(data, dict) else _what(data)
        message = f"not a workflow file: it holds {what}, not a workflow (name, steps)"
        raise LoadError(
            Problem("not a workflow file: it is empty" if data is None else message, str(path))
        )
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
        definition = _without_bad_keys(rest, exc, steps)
    return Loaded(definition, problems, file, source, bad_ids)


def _without_bad_keys(
    rest: dict[str, Any], exc: pydantic.ValidationError, steps: list[StepDef]
) -> WorkflowDef | None:
    """The workflow without the top-level keys its problems name, so that the steps are
    still checked (an unknown ``maxDuraton`` does not hide a step's unknown tool). The
    problems already found keep the workflow from running; None if it is still invalid."""
    bad = {str(err["loc"][0]) for err in exc.errors(include_url=False) if err["loc"]}
    kept = {key: value for key, value in rest.items() if key not in bad or key == "name"}
    try:
        return WorkflowDef.model_validate(kept).model_copy(update={"steps": steps})
    except pydantic.ValidationError:
        return None


_KINDS = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}


def _what(value: Any) -> str:
    if value is None:
        return "empty"
    return _KINDS.get(type(value), f"a {type(value).__name__}")


def require_valid(loaded: Loaded) -> WorkflowDef:
    if loaded.problems or loaded.definition is None:
        raise ValidationError(loaded.located(loaded.problems))
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
            known = _known_keys(StepDef if step is not None else WorkflowDef, err["loc"][:-1])
            message = "unknown key" + did_you_mean(err["loc"][-1], known)
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "enum" and "expected" in err.get("ctx", {}):
            message = f"unknown value {err['input']!r}; expected {err['ctx']['expected']}"
        out.append(Problem(message, file, step, _user_key(raw, err["loc"])))
    return out


def _known_keys(model: Any, loc: tuple[str | int, ...]) -> list[str]:
    """The keys a mapping at ``loc`` under ``model`` accepts, in camelCase (as the docs
    spell them), or none when ``loc`` leads to no model."""
    for part in loc:
        fields = _fields(model)
        if isinstance(part, int) or part not in fields:
            continue  # a list index, or pydantic's name of a union member
        model = _model_in(fields[part].annotation)
        if model is None:
            return []
    return [_camel(name) for name in _fields(model)]


def _fields(model: Any) -> dict[str, Any]:
    fields = getattr(model, "model_fields", None) or getattr(model, "__pydantic_fields__", None)
    return dict(fields or {})


def _model_in(annotation: Any) -> Any:
    """The definition class inside ``X | None``, ``list[X]`` or ``Annotated[X, ...]``."""
    if _fields(annotation) and isinstance(annotation, type):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


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
