"""The syntax tree shared by all dialects (UEL, plain, FEEL).

Nodes are frozen dataclasses carrying the source offset they start at. The compiler
turns a tree into closures once; nothing walks these nodes during evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Node:
    pos: int

    def children(self) -> Iterator[Node]:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Node):
                yield v
            elif isinstance(v, tuple):
                for item in v:
                    if isinstance(item, Node):
                        yield item
                    elif isinstance(item, tuple):
                        yield from (x for x in item if isinstance(x, Node))


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: object


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-", "not", "empty"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / % ** += == != < <= > >=   (FEEL "=" is stored as "==")
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical(Node):
    op: str  # "and" | "or"; n-ary so long chains stay shallow
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Member(Node):
    target: Node
    name: str


@dataclass(frozen=True, slots=True)
class Index(Node):
    """``a[i]``: an index/key in UEL and plain; an index or a filter in FEEL."""

    target: Node
    index: Node


@dataclass(frozen=True, slots=True)
class MethodCall(Node):
    target: Node
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A built-in function call by name, positional or named arguments (not both)."""

    name: str
    args: tuple[Node, ...]
    named: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ContextLit(Node):
    entries: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Range(Node):
    """A FEEL interval ``[a..b)``; also a ``for`` iteration context ``a..b``."""

    low: Node
    high: Node
    low_closed: bool
    high_closed: bool


@dataclass(frozen=True, slots=True)
class UnaryTest(Node):
    """``< 5`` inside the tests of ``x in ...``: compare the tested value with operand."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class In(Node):
    value: Node
    tests: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Between(Node):
    value: Node
    low: Node
    high: Node


@dataclass(frozen=True, slots=True)
class InstanceOf(Node):
    value: Node
    type_name: str


@dataclass(frozen=True, slots=True)
class Quantified(Node):
    kind: str  # "some" | "every"
    bindings: tuple[tuple[str, Node], ...]
    condition: Node


@dataclass(frozen=True, slots=True)
class For(Node):
    bindings: tuple[tuple[str, Node], ...]
    body: Node


@dataclass(frozen=True, slots=True)
class Composite(Node):
    """UEL ``"Hello ${name}!"``: literal text and expressions joined as a string."""

    parts: tuple[Node, ...]


def measure(root: Node) -> tuple[int, int]:
    """(depth, node count) of a tree, without recursion (trees may be hostile)."""
    depth = 0
    count = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, d = stack.pop()
        count += 1
        depth = max(depth, d)
        stack.extend((c, d + 1) for c in node.children())
    return depth, count
