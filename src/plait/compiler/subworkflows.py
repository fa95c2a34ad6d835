"""``workflow:`` steps: another workflow, from a file or registered by name, compiled
once with the workflow that uses it (its problems are reported with its own file).

A workflow that includes itself, directly or through others, is an error: the chain of
files being compiled is kept in a context variable while a sub-workflow compiles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from plait.compiler.plan import Plan
from plait.definition.loader import Loaded, load_definition
from plait.errors import Problem, WorkflowError

# name -> the registered workflow's plan, compiled when first asked for
_REGISTERED: dict[str, Callable[[], Plan]] = {}
_CHAIN: ContextVar[tuple[str, ...]] = ContextVar("plait_workflow_chain", default=())


def register_workflow(name: str, plan: Callable[[], Plan]) -> None:
    """Make ``workflow: NAME`` run this workflow (``plait.register_workflow``)."""
    _REGISTERED[name] = plan


def unregister_workflow(name: str) -> None:
    _REGISTERED.pop(name, None)


def resolve(ref: str, parent_file: str | None, compile_loaded: Callable[[Loaded], Plan]) -> Plan:
    """The plan of ``workflow: ref``: a file relative to the parent's folder (or the
    working directory), else a registered name. Raises ``WorkflowError``."""
    folder = Path(parent_file).resolve().parent if parent_file else Path.cwd()
    path = (folder / ref).resolve()
    chain = _CHAIN.get() or ((str(Path(parent_file).resolve()),) if parent_file else ())
    if path.is_file():
        key = str(path)
        if key in chain:
            cycle = " -> ".join(Path(p).name for p in (*chain[chain.index(key) :], key))
            raise WorkflowError(Problem(f"workflow '{ref}' includes itself: {cycle}"))
        with _compiling((*chain, key)):
            return compile_loaded(load_definition(path))
    registered = _REGISTERED.get(ref)
    if registered is not None:
        if f"registered:{ref}" in chain:
            raise WorkflowError(Problem(f"registered workflow '{ref}' includes itself"))
        with _compiling((*chain, f"registered:{ref}")):
            return registered()
    known = ", ".join(sorted(_REGISTERED)) or "none"
    raise WorkflowError(
        Problem(
            f"workflow '{ref}': no file {path} and no registered workflow of that name "
            f"(registered: {known})"
        )
    )


@contextmanager
def _compiling(chain: tuple[str, ...]) -> Iterator[None]:
    token = _CHAIN.set(chain)
    try:
        yield
    finally:
        _CHAIN.reset(token)
