"""Drawing a DAG as text: an indented tree, or Graphviz DOT."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from miniflow.dag import DAG

__all__ = ["tree_lines", "dot"]


def tree_lines(dag: DAG) -> list[str]:
    """Each root, then its downstream tasks indented below it.

    A task reached a second time is printed once more with ``...`` rather than
    expanded again, so a diamond-heavy DAG prints in linear size.
    """
    lines: list[str] = []
    expanded: set[str] = set()
    stack = [(t.task_id, 0) for t in sorted(dag.roots, key=lambda t: t.task_id, reverse=True)]
    while stack:
        task_id, depth = stack.pop()
        task = dag.task_dict[task_id]
        label = f"{'    ' * depth}<Task({type(task).__name__}): {task_id}>"
        if task_id in expanded and task.downstream_task_ids:
            lines.append(label + " ...")
            continue
        lines.append(label)
        expanded.add(task_id)
        stack.extend((d, depth + 1) for d in sorted(task.downstream_task_ids, reverse=True))
    return lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(dag: DAG) -> str:
    """The DAG in Graphviz's DOT language (``miniflow dags show --dot | dot -Tsvg``)."""
    out = [f"digraph {_quote(dag.dag_id)} {{", f"  graph [label={_quote(dag.dag_id)}, rankdir=LR];",
           "  node [shape=rect, style=\"rounded,filled\", fontname=Helvetica];"]
    for task in dag.topological_sort():
        out.append(f"  {_quote(task.task_id)} [fillcolor={_quote(task.ui_color)}];")
    for up, down in dag.edges():
        out.append(f"  {_quote(up)} -> {_quote(down)};")
    out.append("}")
    return "\n".join(out)
