"""Definition → immutable Plan (the DAG), with every check that can run before a run."""

from plait.compiler.compile import compile_definition, compile_loaded
from plait.compiler.inputs import NO_ENV, EnvBinding, bind_env, bind_inputs
from plait.compiler.plan import DEFAULT_POOL, Node, NodeKind, Plan, PoolSpec, RetryPolicy
from plait.compiler.render import to_dot, to_mermaid

__all__ = [
    "DEFAULT_POOL",
    "NO_ENV",
    "EnvBinding",
    "Node",
    "NodeKind",
    "Plan",
    "PoolSpec",
    "RetryPolicy",
    "bind_env",
    "bind_inputs",
    "compile_definition",
    "compile_loaded",
    "to_dot",
    "to_mermaid",
]
