"""The built-in tools of SPEC §6."""

from plait.tools.builtin.echo import ECHO
from plait.tools.builtin.fail import FAIL
from plait.tools.builtin.noop import NOOP
from plait.tools.builtin.python import PYTHON
from plait.tools.builtin.shell import SHELL
from plait.tools.builtin.sleep import SLEEP

BUILTINS = (NOOP, ECHO, SLEEP, FAIL, PYTHON, SHELL)

__all__ = ["BUILTINS"]
