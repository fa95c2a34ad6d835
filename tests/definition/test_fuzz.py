"""Bad workflow files: ``plait validate`` answers exit 2 with a clear message (or 0 for a
file that happens to be valid), never a traceback, and never hangs.

Random text (YAML and JSON), YAML token soup, valid skeletons with random values put
at random keys (wrong types, huge numbers, unknown keys), cycles of any length, deep
nesting, megabyte strings, and the YAML tricks: aliases that expand exponentially
("billion laughs"), recursive aliases, Python tags, values YAML cannot build.

The named cases run the command itself (typer's CliRunner); the many random examples
run what it does before printing (load and compile, where only a ``WorkflowError``
may come out), thirty times faster.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import plait
from plait.cli.app import app

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
runner = CliRunner()


def validate(path: Path) -> tuple[int, str]:
    """``plait validate PATH`` in process: the exit status and stderr. Anything but the
    command's own exit is re-raised (the user would have seen a traceback)."""
    result = runner.invoke(app, ["validate", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("error: "), result.stderr
        assert lines[-1].endswith("found; nothing was run."), result.stderr
    else:
        assert ": ok: workflow" in result.stdout
    return result.exit_code, result.stderr


def check(path: Path) -> int:
    """What ``plait validate`` does before it prints (``cli.app._load``), 30 times
    faster than through the command for the many examples: load and compile; nothing
    but a ``WorkflowError`` with its problems may come out."""
    try:
        plait.load(path).validate()
    except plait.WorkflowError as exc:
        problems = exc.problems
    else:
        return 0
    assert problems
    assert all(problem.render() for problem in problems)
    return 2


def refused(path: Path, *needles: str) -> str:
    code, err = validate(path)
    assert code == 2, err
    for needle in needles:
        assert needle in err
    return err


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def write_text(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


# -- random text ---------------------------------------------------------------------

YAML_TOKENS = st.sampled_from(
    [
        *(": ", ":", " ", "  ", "\n", "\n  ", "- ", "-", "[", "]", "{", "}", ", ", "'", '"'),
        *("&a ", "*a", "&b ", "*b", "<<: ", "? ", "|", ">", "#", "%YAML 1.1\n", "---\n", "..."),
        *("!!str ", "!!int ", "!!binary ", "!!python/object/apply:os.system ", "!!set ", "!x "),
        *("name", "steps", "id", "tool", "echo", "dependsOn", "parallelGroup", "waitStrategy"),
        *("input", "timeout", "retry", "maxAttempts", "pools", "loop", "parallel", "switch"),
        *("${", "}", "${a.output", "1e999", "-1", "0x1F", "~", "null", "true", "1_000", "5m"),
        *("\t", "\\", "\x00", "\ufeff", "é", "\u2028", "a", "s1", "s2"),
    ]
)


@settings(FUZZ, max_examples=150)
@given(st.lists(YAML_TOKENS, max_size=40).map("".join))
def test_yaml_token_soup_is_refused_cleanly(folder: Path, text: str) -> None:
    check(write_text(folder, "soup.yaml", text))


@settings(FUZZ, max_examples=100)
@given(st.text(max_size=200))
def test_random_text_is_refused_cleanly_as_yaml_and_json(folder: Path, text: str) -> None:
    check(write_text(folder, "text.yaml", text))
    check(write_text(folder, "text.json", text))


@settings(FUZZ, max_examples=50)
@given(st.binary(max_size=200))
def test_random_bytes_are_refused_cleanly(folder: Path, data: bytes) -> None:
    check(write_text(folder, "bytes.yaml", data))


# -- valid skeletons, random values at random keys -------------------------------------

JUNK = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["${", "${nope.output}", "${1 +}", "5m", "-5s", "1e999ms", "all", ""]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
TOP_KEYS = [
    *("name", "description", "inputs", "parallelConfig", "parallel_config", "maxDuration"),
    *("pools", "steps", "outputs", "version", "unknownKey"),
]
STEP_KEYS = [
    *("id", "tool", "toolName", "input", "dependsOn", "depends_on", "next_step", "when"),
    *("timeout", "retry", "pool", "continueOnError", "onError", "output", "parallelGroup"),
    *("type", "parallel_steps", "parallel", "loop", "switch", "wait_strategy", "bogus"),
]
NESTED_KEYS = {
    "parallelConfig": ["maxConcurrent", "queueSize", "timeout", "rate", "extra"],
    "retry": ["maxAttempts", "backoff", "jitter", "retryOn", "extra"],
    "parallelGroup": ["id", "steps", "waitStrategy", "maxConcurrent", "timeout", "extra"],
    "parallel": ["items", "count", "steps", "maxConcurrent", "waitStrategy", "output", "x"],
    "loop": ["type", "count", "items", "condition", "maxIterations", "steps", "x"],
}


def skeleton() -> dict[str, Any]:
    return {
        "name": "fuzzed",
        "parallelConfig": {"maxConcurrent": 2, "timeout": "5s"},
        "pools": {"db": {"maxConcurrent": 1}},
        "steps": [
            {"id": "a", "tool": "echo", "input": {"n": 1}, "retry": {"maxAttempts": 2}},
            {"id": "g", "parallelGroup": {"steps": ["b", "c"], "waitStrategy": "any"}},
            {"id": "b", "tool": "noop", "pool": "db"},
            {"id": "c", "tool": "echo", "input": "${a.output.n}", "dependsOn": ["a"]},
            {
                "id": "m",
                "parallel": {"count": 2, "steps": [{"id": "x", "tool": "echo"}]},
                "dependsOn": ["g"],
            },
            {
                "id": "l",
                "loop": {"type": "for", "count": 2, "steps": [{"id": "y", "tool": "noop"}]},
            },
        ],
    }


@st.composite
def mutated(draw: Any) -> dict[str, Any]:
    data = skeleton()
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["top", "step", "nested"]))
        if where == "top":
            data[draw(st.sampled_from(TOP_KEYS))] = draw(JUNK)
            continue
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps or not isinstance(steps[0], dict):
            continue
        step = steps[draw(st.integers(0, len(steps) - 1))]
        if not isinstance(step, dict):
            continue
        if where == "step":
            step[draw(st.sampled_from(STEP_KEYS))] = draw(JUNK)
            continue
        outer = draw(st.sampled_from(sorted(NESTED_KEYS)))
        target = data if outer == "parallelConfig" else step
        inner = target.get(outer)
        if not isinstance(inner, dict):
            inner = target[outer] = {}
        inner[draw(st.sampled_from(NESTED_KEYS[outer]))] = draw(JUNK)
    return data


def _json_text(data: Any) -> str:
    # Python's json writes NaN/Infinity, which are not JSON: the loader must refuse them
    # or take them, either way cleanly.
    return json.dumps(data)


@settings(FUZZ, max_examples=100)
@given(mutated())
def test_wrong_types_huge_numbers_and_unknown_keys_are_refused_cleanly(
    folder: Path, data: dict[str, Any]
) -> None:
    check(write_text(folder, "mutated.json", _json_text(data)))


@settings(FUZZ, max_examples=40)
@given(mutated())
def test_the_same_as_yaml(folder: Path, data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, width=math.inf)
    check(write_text(folder, "mutated.yaml", text))


# -- cycles ------------------------------------------------------------------------------


@settings(FUZZ, max_examples=40)
@given(st.integers(1, 12), st.data())
def test_a_cycle_of_any_length_is_refused_with_its_path(
    folder: Path, length: int, data: st.DataObject
) -> None:
    ids = [f"s{i}" for i in range(length)]
    steps: list[dict[str, Any]] = [{"id": sid, "tool": "noop", "dependsOn": []} for sid in ids]
    for i, step in enumerate(steps):  # the ring s0 -> s1 -> ... -> s0
        step["dependsOn"].append(ids[i - 1])
    extra = data.draw(st.lists(st.tuples(st.integers(0, length - 1), st.integers(0, length - 1))))
    for a, b in extra:
        if a != b and ids[b] not in steps[a]["dependsOn"]:
            steps[a]["dependsOn"].append(ids[b])
    path = write_text(folder, "cycle.json", json.dumps({"name": "c", "steps": steps}))
    if length == 1:
        refused(path, "a step cannot depend on itself")
    else:
        refused(path, "dependency cycle: ")


def test_a_cycle_through_a_group_is_refused(folder: Path) -> None:
    text = """
name: c
steps:
  - {id: g, parallelGroup: {steps: [a]}}
  - {id: a, tool: noop, dependsOn: [g]}
"""
    refused(write_text(folder, "gcycle.yaml", text), "cycle")


# -- sizes and depths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "depth"),
    # PyYAML takes a second or two to reach its recursion limit: one YAML case is enough.
    [("json", 950), ("json", 20_000), ("yaml", 1_200)],
)
def test_deep_nesting_is_refused_or_accepted_cleanly(folder: Path, suffix: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    text = f'{{"name": "deep", "steps": [{{"id": "s", "tool": "echo", "input": {nested}}}]}}'
    validate(write_text(folder, f"deep.{suffix}", text))


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_deep_nesting_of_mappings_is_refused_or_accepted_cleanly(folder: Path, suffix: str) -> None:
    nested = '{"a": ' * 950 + "1" + "}" * 950
    text = f'{{"name": "deep", "steps": [{{"id": "s", "tool": "echo", "input": {nested}}}]}}'
    validate(write_text(folder, f"deepmap.{suffix}", text))


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        (
            "huge.json",
            '{"name": "h", "parallelConfig": {"maxConcurrent": 1e999}}',
            ["maxConcurrent"],
        ),
        ("huge.json", '{"name": "h", "parallelConfig": {"maxConcurrent": ' + "9" * 5000 + "}}", []),
        ("huge.yaml", "name: h\nmaxDuration: 99999999999999999999999h\nsteps: []\n", []),
        ("huge.yaml", "name: h\nmaxDuration: 1e999\nsteps: []\n", []),
        ("huge.yaml", "name: h\nsteps:\n  - {id: s, tool: noop, timeout: .nan}\n", []),
        ("huge.yaml", "name: h\nsteps:\n  - {id: s, tool: noop, retry: {maxAttempts: 1e9}}\n", []),
        ("nan.json", '{"name": "h", "steps": [{"id": "s", "tool": "noop", "timeout": NaN}]}', []),
        ("digits.yaml", "name: h\nversion: " + "9" * 5000 + "\nsteps: []\n", ["too many digits"]),
        ("digits.json", '{"name": "h", "steps": [], "version": ' + "9" * 5000 + "}", ["digits"]),
        ("hex.yaml", "name: h\nmaxDuration: 0x" + "f" * 5000 + "\nsteps: []\n", ["a year"]),
        ("big.json", '{"name": "h", "maxDuration": 1' + "0" * 400 + ', "steps": []}', ["a year"]),
        ("date.yaml", "name: h\nsteps:\n  - {id: s, tool: echo, input: 2024-13-01}\n", ["month"]),
        ("float.yaml", "name: h\nsteps:\n  - {id: s, tool: echo, input: !!float x}\n", ["float"]),
        (
            "loop.yaml",
            "name: h\nsteps:\n  - {id: l, loop: {type: for, count: 99999999999999, "
            "steps: [{id: x, tool: noop}]}}\n",
            [],
        ),
    ],
)
def test_huge_and_odd_numbers_are_refused_cleanly(
    folder: Path, name: str, text: str, needles: list[str]
) -> None:
    _, err = validate(write_text(folder, name, text))
    for needle in needles:
        assert needle in err


@pytest.mark.parametrize(
    ("what", "data"),
    [
        ("name", {"name": "n" * 5_000_000, "steps": []}),
        ("step id", {"name": "w", "steps": [{"id": "s" * 1_000_000, "tool": "noop"}]}),
        ("input", {"name": "w", "steps": [{"id": "s", "tool": "echo", "input": "x" * 3_000_000}]}),
        (
            "expression",
            {"name": "w", "steps": [{"id": "s", "tool": "echo", "input": "${" + "a" * 1_000_000}]},
        ),
        ("unknown key", {"name": "w", "k" * 1_000_000: 1, "steps": []}),
        ("tool", {"name": "w", "steps": [{"id": "s", "tool": "t" * 2_000_000}]}),
    ],
)
def test_megabyte_strings_are_refused_cleanly(
    folder: Path, what: str, data: dict[str, Any]
) -> None:
    validate(write_text(folder, "big.json", json.dumps(data)))


def test_a_file_over_the_size_limit_is_refused_unread(folder: Path) -> None:
    path = folder / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)  # sparse: no 16 MB written
    refused(path, "file is larger than")


# -- YAML tricks ---------------------------------------------------------------------------


def laughs(depth: int) -> str:
    parts = ['&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, depth + 1):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return (
        "name: laughs\nsteps:\n  - id: d\n    tool: echo\n    input: [" + ", ".join(parts) + "]\n"
    )


def test_billion_laughs_is_refused_at_once(folder: Path) -> None:
    # 9 levels of 10 aliases: 10**10 strings from a 700-byte file.
    refused(write_text(folder, "laughs.yaml", laughs(9)), "invalid YAML", "aliases")


def test_a_few_aliases_are_fine(folder: Path) -> None:
    text = """
name: anchors
steps:
  - {id: a, tool: echo, input: &common {retries: 3, region: eu}}
  - {id: b, tool: echo, input: *common}
  - {id: c, tool: echo, input: {<<: *common, region: us}}
"""
    assert validate(write_text(folder, "anchors.yaml", text))[0] == 0


@pytest.mark.parametrize(
    "text",
    [
        "name: rec\nsteps:\n  - {id: s, tool: echo, input: &a [1, *a]}\n",
        "name: rec\nsteps:\n  - &s {id: s, tool: echo, input: {x: *s}}\n",
        "&w {name: rec, steps: [{id: s, tool: echo, input: *w}]}\n",
    ],
)
def test_a_recursive_alias_is_refused(folder: Path, text: str) -> None:
    refused(write_text(folder, "rec.yaml", text), "invalid YAML", "refers to itself")


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo hacked']\n",
        "name: !!python/name:os.system\nsteps: []\n",
        "name: w\nsteps: [!!python/object:object {}]\n",
    ],
)
def test_python_tags_are_refused(folder: Path, text: str) -> None:
    refused(write_text(folder, "tags.yaml", text), "invalid YAML")


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe\x00bad",
        b"name: w\nsteps: []\n\x00",
        b"\xef\xbb\xbfname: bom\nsteps: []\n",
        b"",
        b"# only a comment\n",
        b"---\n---\n",
        b"name: a\n---\nname: b\n",
    ],
)
def test_odd_bytes_and_documents_are_handled(folder: Path, data: bytes) -> None:
    validate(write_text(folder, "odd.yaml", data))
