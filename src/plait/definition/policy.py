"""What the person who runs a workflow lets it reach beyond its own folder (issue 19).

A workflow file is code, written by someone trusted; run inputs are data. These
settings let whoever *runs* a file narrow what that code may reach, checked when the
workflow is validated (nothing runs if it reaches further)::

    --allow-python mypkg,tools          python steps may call only functions of these
                                        modules (and their submodules: mypkg.sub:fn)
    --allow-workflow-dir ../shared      workflow: files may also come from this folder

By default a ``python`` step may name any module, and a ``workflow:`` file must lie in
the folder of the file that names it (or below it), after symlinks and ``..`` are
resolved. The setting belongs to whoever runs the file, not to the file: a limit a
file set on itself would bind nobody (see docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_IDENTIFIER_HINT = "a dotted module name such as 'mypkg' or 'mypkg.jobs'"


@dataclass(frozen=True, slots=True)
class Policy:
    """``python_modules``: the modules a ``python`` step may call into (``None``: any);
    ``workflow_dirs``: folders, resolved, that ``workflow:`` files may come from besides
    the including file's own folder."""

    python_modules: tuple[str, ...] | None = None
    workflow_dirs: tuple[Path, ...] = ()

    def allows_module(self, module: str) -> bool:
        """``mypkg`` allows ``mypkg`` and ``mypkg.sub``, never ``mypkgx``."""
        if self.python_modules is None:
            return True
        return any(module == m or module.startswith(m + ".") for m in self.python_modules)

    def allows_workflow_file(self, path: Path, folder: Path) -> bool:
        """Whether the resolved ``path`` lies in ``folder`` (resolved) or an allowed one."""
        return any(path.is_relative_to(root) for root in (folder, *self.workflow_dirs))

    def override(
        self,
        *,
        allow_python: Iterable[str] | str | None = None,
        allow_workflow_dirs: Iterable[str | Path] | None = None,
    ) -> Policy:
        """This policy with what is given in place of what it had (``None``: kept)."""
        return Policy(
            self.python_modules if allow_python is None else python_modules(allow_python),
            self.workflow_dirs
            if allow_workflow_dirs is None
            else workflow_dirs(allow_workflow_dirs),
        )


DEFAULT_POLICY = Policy()


def make_policy(
    allow_python: Iterable[str] | str | None = None,
    allow_workflow_dirs: Iterable[str | Path] | None = None,
) -> Policy:
    """A ``Policy`` from the API's and the command line's spellings. Raises ``ValueError``
    for a name that is not a module name."""
    return DEFAULT_POLICY.override(
        allow_python=allow_python, allow_workflow_dirs=allow_workflow_dirs
    )


def python_modules(given: Iterable[str] | str) -> tuple[str, ...]:
    """``"a,b"`` or ``["a", "b,c"]`` → ``("a", "b", "c")``; every name a dotted module name."""
    items = [given] if isinstance(given, str) else list(given)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not a module name; give {_IDENTIFIER_HINT}")
        for part in item.split(","):
            name = part.strip()
            if not name:
                continue
            if not all(piece.isidentifier() for piece in name.split(".")):
                raise ValueError(f"{name!r} is not a module name; give {_IDENTIFIER_HINT}")
            if name not in names:
                names.append(name)
    return tuple(names)


def workflow_dirs(given: Iterable[str | Path]) -> tuple[Path, ...]:
    """Folders resolved now (relative to the working directory), symlinks and all."""
    if isinstance(given, str | Path):
        given = [given]
    return tuple(dict.fromkeys(Path(d).expanduser().resolve() for d in given))
