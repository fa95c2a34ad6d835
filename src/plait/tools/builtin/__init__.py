"""The built-in tools of SPEC §6, and seed 001's names for some of them."""

import dataclasses

from plait.tools.builtin.cache import CACHE_GET, CACHE_SET
from plait.tools.builtin.echo import ECHO
from plait.tools.builtin.fail import FAIL
from plait.tools.builtin.http import HTTP
from plait.tools.builtin.noop import NOOP
from plait.tools.builtin.python import PYTHON
from plait.tools.builtin.shell import SHELL
from plait.tools.builtin.sleep import SLEEP
from plait.tools.builtin.sql import SQL

# Seed 001 calls these tools by other names; an alias is the same tool under that name.
HTTP_REQUEST = dataclasses.replace(HTTP, name="http_request", description="the `http` tool")
DATABASE_QUERY = dataclasses.replace(SQL, name="database_query", description="the `sql` tool")

BUILTINS = (
    NOOP,
    ECHO,
    SLEEP,
    FAIL,
    PYTHON,
    SHELL,
    HTTP,
    SQL,
    CACHE_GET,
    CACHE_SET,
    HTTP_REQUEST,
    DATABASE_QUERY,
)

__all__ = ["BUILTINS"]
