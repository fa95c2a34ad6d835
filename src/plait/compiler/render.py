"""The compiled DAG as Mermaid or Graphviz dot, for ``plait graph``."""

from __future__ import annotations

import re

from plait.compiler.plan import Node, NodeKind, Plan


def _label(node: Node) -> str:
    if node.kind is NodeKind.GROUP:
        extra = f" ≤{node.max_concurrent}" if node.max_concurrent else ""
        return f"{node.id} [{node.strategy.value}{extra}]"
    if node.kind is NodeKind.SWITCH:
        return f"{node.id} (switch)"
    if node.kind is NodeKind.MAP:
        return f"{node.id} (map)"
    if node.kind is NodeKind.LOOP:
        return f"{node.id} (loop {node.loop_type})"
    if node.kind is NodeKind.WORKFLOW:
        return f"{node.id} (workflow {node.body.name if node.body else '?'})"
    if node.kind is NodeKind.WAIT:
        return f"{node.id} (wait {node.signal})"
    tool = node.tool.name if node.tool is not None else "?"
    return f"{node.id} ({tool})"


def to_mermaid(plan: Plan) -> str:
    lines = ["flowchart TD"]
    for node in plan.nodes:
        if node.kind is NodeKind.GROUP:
            continue
        if node.group is None:
            lines.append(f"    {_mnode(node)}")
    for group in plan.groups():
        lines.extend(_mermaid_group(plan, group, "    "))
    for node in plan.nodes:
        for target in node.out:
            arrow = _marrow(node, target)
            lines.append(f"    {_mid(node)} {arrow} {_mid(plan.nodes[target])}")
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
            lines.append(f"{indent}    {_mnode(member)}")
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


def _mnode(node: Node) -> str:
    if node.kind is NodeKind.SWITCH:
        return f'{_mid(node)}{{"{_mlabel(node)}"}}'
    return f'{_mid(node)}["{_mlabel(node)}"]'


def _route_label(node: Node, target: int) -> str | None:
    """How an edge is taken when it is not simply "after": a route or an error route."""
    if target in node.on_error:
        return "onError"
    if target in node.routed:
        return "route"
    return None


def _marrow(node: Node, target: int) -> str:
    label = _route_label(node, target)
    if label == "onError":
        return "-. onError .->"
    return "-->" if label is None else f"-->|{label}|"


def _q(text: str) -> str:
    """Text inside a double-quoted dot string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(plan: Plan) -> str:
    lines = [f'digraph "{_q(plan.name)}" {{', "    compound=true;", "    node [shape=box];"]
    for group in plan.groups():
        if group.group is None:
            lines.extend(_dot_group(plan, group, "    "))
    for node in plan.nodes:
        if node.kind is not NodeKind.GROUP and node.group is None:
            lines.append(f"    {_dnode(node)}")
    for node in plan.nodes:
        for target in node.out:
            dst = plan.nodes[target]
            attrs = []
            if node.kind is NodeKind.GROUP:
                attrs.append(f'ltail="cluster_{node.id}"')
            if dst.kind is NodeKind.GROUP:
                attrs.append(f'lhead="cluster_{dst.id}"')
            label = _route_label(node, target)
            if label is not None:
                attrs.append(f'label="{label}"')
                if label == "onError":
                    attrs.append("style=dashed")
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
            lines.append(f"{indent}    {_dnode(member)}")
    lines.append(f"{indent}}}")
    return lines


def _dnode(node: Node) -> str:
    shape = ", shape=diamond" if node.kind is NodeKind.SWITCH else ""
    return f'"{node.id}" [label="{_q(_label(node))}"{shape}];'


RENDERERS = {"mermaid": to_mermaid, "dot": to_dot}
