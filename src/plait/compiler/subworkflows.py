"""``workflow:`` steps: another workflow, from a file or registered by name, compiled
once with the workflow that uses it (its problems are reported with its own file).

A workflow that includes itself, directly or through others, is an error: the chain of
files being compiled is kept in a context variable while a sub-workflow compiles.

A file must lie in the folder of the file that names it, or below (symlinks and ``..``
resolved first), unless the policy allows its folder (``--allow-workflow-dir``): a
workflow file is code, and one that reached anywhere on the disk would read or run
what its author did not write (issue 19). A path outside is refused before the disk is
asked whether it exists, and a file that cannot be read or parsed is named, never
quoted (``load_definition(quote=False)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from plait.compiler.plan import Plan
from plait.definition.loader import load_definition
from plait.definition.policy import Policy
from plait.errors import LoadError, Problem, WorkflowError

# name -> the registered workflow's plan under a policy, compiled when first asked for
_REGISTERED: dict[str, Callable[[Policy], Plan]] = {}
_CHAIN: ContextVar[tuple[str, ...]] = ContextVar("plait_workflow_chain", default=())

Compile = Callable[..., Plan]  # compile_loaded(loaded, policy=...)


def register_workflow(name: str, plan: Callable[[Policy], Plan]) -> None:
    """Make ``workflow: NAME`` run this workflow (``plait.register_workflow``); ``plan``
    compiles it under the policy of the workflow that names it."""
    _REGISTERED[name] = plan


def unregister_workflow(name: str) -> None:
    _REGISTERED.pop(name, None)


def resolve(ref: str, parent_file: str | None, policy: Policy, compile_loaded: Compile) -> Plan:
    """The plan of ``workflow: ref``: a file relative to the parent's folder (or the
    working directory), else a registered name. Raises ``WorkflowError``."""
    folder = Path(parent_file).resolve().parent if parent_file else Path.cwd().resolve()
    chain = _CHAIN.get() or ((str(Path(parent_file).resolve()),) if parent_file else ())
    try:
        path = (folder / ref).resolve()
        inside = policy.allows_workflow_file(path, folder)
        is_file = inside and path.is_file()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL, too long
        raise WorkflowError(Problem(f"workflow '{ref}': not a usable path ({exc})")) from None
    if is_file:
        key = str(path)
        if key in chain:
            cycle = " -> ".join(Path(p).name for p in (*chain[chain.index(key) :], key))
            raise WorkflowError(Problem(f"workflow '{ref}' includes itself: {cycle}"))
        try:
            loaded = load_definition(path, quote=False)
        except LoadError as exc:
            raise WorkflowError(Problem(f"workflow '{ref}': {path}: {exc.plain}")) from None
        with _compiling((*chain, key)):
            return compile_loaded(loaded, policy=policy)
    registered = _REGISTERED.get(ref)
    if registered is not None:
        if f"registered:{ref}" in chain:
            raise WorkflowError(Problem(f"registered workflow '{ref}' includes itself"))
        with _compiling((*chain, f"registered:{ref}")):
            return registered(policy)
    if not inside:
        raise WorkflowError(Problem(_outside(ref, folder, policy)))
    known = ", ".join(sorted(_REGISTERED)) or "none"
    raise WorkflowError(
        Problem(
            f"workflow '{ref}': no file {path} and no registered workflow of that name "
            f"(registered: {known})"
        )
    )


def _outside(ref: str, folder: Path, policy: Policy) -> str:
    allowed = "".join(f", {d}" for d in policy.workflow_dirs)
    return (
        f"workflow '{ref}' is outside the folder of the file that names it ({folder}"
        f"{allowed}); a sub-workflow file lies in that folder or below it. Allow another "
        "folder with --allow-workflow-dir DIR (Python: allow_workflow_dirs=[DIR])"
    )


@contextmanager
def _compiling(chain: tuple[str, ...]) -> Iterator[None]:
    token = _CHAIN.set(chain)
    try:
        yield
    finally:
        _CHAIN.reset(token)
