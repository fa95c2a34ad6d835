"""atheris harness: bytes as a workflow file (YAML, then JSON), through what
``plait validate`` does: parse, check the schema, compile. Only ``WorkflowError`` may
come out. See fuzz/README.md."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from plait.compiler import compile_loaded
    from plait.definition.loader import parse_definition, parse_text
    from plait.errors import WorkflowError


def validate(text: str, *, json_only: bool) -> None:
    try:
        data = parse_text(text, "fuzz", json_only=json_only)
        compile_loaded(parse_definition(data, file="fuzz", source=text))
    except WorkflowError as exc:
        if not exc.problems:
            raise AssertionError("a WorkflowError with no problem") from exc
        for problem in exc.problems:
            problem.render()


def test_one_input(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    validate(text, json_only=False)
    validate(text, json_only=True)


def main() -> None:
    if not any(arg.startswith("-timeout") for arg in sys.argv):
        sys.argv.append("-timeout=10")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
