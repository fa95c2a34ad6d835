"""The compiled DAG as Mermaid or Graphviz dot, for ``plait graph``."""

from __future__ import annotations

import re

from plait.compiler.plan import Node, NodeKind, Plan


def _label(node: Node) -> str:
    if node.kind is NodeKind.GROUP:
        extra = f" ≤{node.max_concurrent}" if node.max_concurrent else ""
        return f"{node.id} [{node.strategy.value}{extra}]"
    tool = node.tool.name if node.tool is not None else "?"
    return f"{node.id} ({tool})"


def to_mermaid(plan: Plan) -> str:
    lines = ["flowchart TD"]
    for node in plan.nodes:
        if node.kind is NodeKind.GROUP:
            continue
        if node.group is None:
            lines.append(f'    {_mid(node)}["{_mlabel(node)}"]')
    for group in plan.groups():
        lines.extend(_mermaid_group(plan, group, "    "))
    for node in plan.nodes:
        for target in node.out:
            lines.append(f"    {_mid(node)} --> {_mid(plan.nodes[target])}")
    return "\n".join(lines) + "\n"


def _mermaid_group(plan: Plan, group: Node, indent: str) -> list[str]:
    if group.group is not None and indent == "    ":
        return []  # drawn inside its parent
    lines = [f'{indent}subgraph {_mid(group)}["{_mlabel(group)}"]']
    for member_index in group.members:
        member = plan.nodes[member_index]
        if member.kind is NodeKind.GROUP:
            lines.extend(_mermaid_group(plan, member, indent + "    "))
        else:
            lines.append(f'{indent}    {_mid(member)}["{_mlabel(member)}"]')
    lines.append(f"{indent}end")
    return lines


def _mid(node: Node) -> str:
    """A Mermaid node id: the step id made safe, plus its index.

    The index keeps ids apart that only differ in a character Mermaid cannot take
    (``a-b`` and ``a_b``) and keeps a step named ``end`` from closing the flowchart.
    """
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', node.id)}_{node.index}"


def _mlabel(node: Node) -> str:
    return _label(node).replace('"', "#quot;")


def _q(text: str) -> str:
    """Text inside a double-quoted dot string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(plan: Plan) -> str:
    lines = [f'digraph "{_q(plan.name)}" {{', "    compound=true;", "    node [shape=box];"]
    for group in plan.groups():
        if group.group is None:
            lines.extend(_dot_group(plan, group, "    "))
    for node in plan.nodes:
        if node.kind is NodeKind.TASK and node.group is None:
            lines.append(f'    "{node.id}" [label="{_q(_label(node))}"];')
    for node in plan.nodes:
        for target in node.out:
            dst = plan.nodes[target]
            attrs = []
            if node.kind is NodeKind.GROUP:
                attrs.append(f'ltail="cluster_{node.id}"')
            if dst.kind is NodeKind.GROUP:
                attrs.append(f'lhead="cluster_{dst.id}"')
            suffix = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f'    "{node.id}" -> "{dst.id}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_group(plan: Plan, group: Node, indent: str) -> list[str]:
    lines = [
        f'{indent}subgraph "cluster_{group.id}" {{',
        f'{indent}    label="{_q(_label(group))}";',
    ]
    lines.append(f'{indent}    "{group.id}" [shape=point, style=invis];')
    for member_index in group.members:
        member = plan.nodes[member_index]
        if member.kind is NodeKind.GROUP:
            lines.extend(_dot_group(plan, member, indent + "    "))
        else:
            lines.append(f'{indent}    "{member.id}" [label="{_q(_label(member))}"];')
    lines.append(f"{indent}}}")
    return lines


RENDERERS = {"mermaid": to_mermaid, "dot": to_dot}
