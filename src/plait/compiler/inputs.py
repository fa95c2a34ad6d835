"""Run inputs checked and typed against the inputs a workflow declares."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from plait.compiler.plan import InputSpec, Plan
from plait.errors import InputError, Problem
from plait.secrets import NO_SECRETS, Secrets

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def bind_inputs(
    plan: Plan, given: Mapping[str, Any], *, text_keys: Collection[str] = ()
) -> dict[str, Any]:
    """Return every declared input with its value: given, or its default.

    Values named in ``text_keys`` (``--input K=V``) are text converted by the declared type:
    ``--input n=5`` gives the integer 5 when ``n`` is an ``integer``. Raises ``InputError``
    listing every problem.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in plan.inputs:
            declared = ", ".join(sorted(plan.inputs)) or "none"
            problems.append(
                Problem(
                    f"unknown input {name!r} (declared inputs: {declared})",
                    plan.file,
                    key=f"inputs.{name}",
                )
            )
    for name, spec in plan.inputs.items():
        if name in given:
            try:
                values[name] = _convert(spec, given[name], name in text_keys)
            except ValueError as exc:
                problems.append(Problem(str(exc), plan.file, key=f"inputs.{name}"))
        elif spec.required:
            problems.append(
                Problem(
                    f"input {name!r} is required (give it with --input {name}=VALUE)",
                    plan.file,
                    key=f"inputs.{name}",
                )
            )
        else:
            values[name] = spec.default
    if problems:
        raise InputError(problems)
    return values


def check_type(spec: InputSpec, value: Any) -> Any:
    """Return ``value`` if it has the declared type; raise ``ValueError`` saying why not."""
    return _convert(spec, value, False)


def _convert(spec: InputSpec, value: Any, from_text: bool) -> Any:
    if from_text and isinstance(value, str) and spec.type not in ("string", "any"):
        value = _parse_text(spec, value)
    expected = _PY_TYPES.get(spec.type)
    if expected is None:
        return value
    ok = isinstance(value, expected) and not (
        spec.type in ("integer", "number") and isinstance(value, bool)
    )
    if not ok:
        raise ValueError(f"input {spec.name!r} must be {_article(spec.type)}, not {value!r}")
    return value


def _parse_text(spec: InputSpec, text: str) -> Any:
    if spec.type == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"input {spec.name!r} must be true or false, not {text!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(
            f"input {spec.name!r} must be {_article(spec.type)}, not {text!r}"
        ) from None


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


@dataclass(frozen=True, slots=True)
class EnvBinding:
    """What ``${env.NAME}`` reads in one run, and which of those values to mask."""

    values: dict[str, str | None]
    secrets: Secrets


NO_ENV = EnvBinding({}, NO_SECRETS)


def bind_env(
    plan: Plan, allow: Collection[str] = (), environ: Mapping[str, str] | None = None
) -> EnvBinding:
    """Read the environment variables the workflow declares under ``env:`` and those the
    user allows (``--allow-env NAME``); nothing else of the environment is visible.

    Raises ``InputError`` listing every problem: a ``${env.NAME}`` neither declared nor
    allowed, a required variable that is not set. Every value read is a secret (masked in
    records, documents and logs) unless declared ``secret: false``.
    """
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    values: dict[str, str | None] = {}
    secrets: dict[str, str] = {}  # by name: a resume puts masked values back by name
    for name, (step, key) in plan.env_reads.items():
        if name not in plan.env and name not in allow:
            problems.append(
                Problem(
                    f"${{env.{name}}} is not declared under 'env:' (declare it, or allow it "
                    f"with --allow-env {name})",
                    plan.file,
                    step,
                    key,
                )
            )
    for name, spec in plan.env.items():
        value = environ.get(name, spec.default)
        if value is None and spec.required:
            problems.append(
                Problem(
                    f"environment variable {name} is not set (declared under 'env:' "
                    "with no default)",
                    plan.file,
                    key=f"env.{name}",
                )
            )
        values[name] = value
        if spec.secret and value is not None and name in environ:
            secrets[name] = value
    for name in allow:
        if name in plan.env:
            continue
        value = environ.get(name)
        if value is None:
            problems.append(
                Problem(f"--allow-env {name}: the variable is not set", plan.file, key="env")
            )
            continue
        values[name] = value
        secrets[name] = value
    if problems:
        raise InputError(problems)
    return EnvBinding(values, Secrets(secrets))
