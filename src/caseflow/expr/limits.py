"""Every resource limit of the expression language, in one place.

Expressions and scripts come from BPMN files that may be uploaded by people we do not
fully trust, so each compile and each evaluation is bounded: a hostile or careless
expression ends with :class:`~caseflow.errors.ExpressionLimitExceeded`, never with a
hung worker, a ``RecursionError`` or a ``MemoryError``.
"""

from __future__ import annotations

from typing import Final

from caseflow.errors import ExpressionLimitExceeded

#: Longest accepted source text, in characters (expressions and scripts).
MAX_SOURCE_LENGTH: Final = 16 * 1024
#: Deepest accepted syntax tree (nesting of parentheses, operators, calls, statements).
#: Compiled closures recurse once per level, so this also bounds the evaluation stack.
MAX_DEPTH: Final = 100
#: Most syntax-tree nodes in one expression or script.
MAX_NODES: Final = 10_000
#: Steps one ``evaluate``/``run`` call may take; every loop iteration, comprehension
#: item, quantifier/filter item, statement and collection-consuming built-in counts.
MAX_STEPS: Final = 100_000
#: Longest string an expression or script may produce, in characters (1 MiB).
MAX_STRING_LENGTH: Final = 1024 * 1024
#: Most items in one list/dict/range an expression or script may produce.
MAX_COLLECTION_SIZE: Final = 100_000
#: Largest integer, in bits, arithmetic may produce (about 3,000 decimal digits).
MAX_INT_BITS: Final = 10_000
#: Deepest nesting of containers in a value a script stores into a variable.
MAX_VALUE_DEPTH: Final = 64


class Budget:
    """The step allowance of one evaluation; not shared between threads or calls."""

    __slots__ = ("steps",)

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self.steps = steps

    def charge(self, n: int = 1) -> None:
        self.steps -= n
        if self.steps < 0:
            raise ExpressionLimitExceeded(f"evaluation exceeded the step budget of {MAX_STEPS}")


def check_str(value: str) -> str:
    check_str_length(len(value))
    return value


def check_str_length(n: int) -> None:
    """Refuse to build a string of ``n`` characters (call before building it)."""
    if n > MAX_STRING_LENGTH:
        raise ExpressionLimitExceeded(
            f"string of {n} characters exceeds the limit of {MAX_STRING_LENGTH}"
        )


def check_size(n: int, what: str = "collection") -> None:
    if n > MAX_COLLECTION_SIZE:
        raise ExpressionLimitExceeded(
            f"{what} of {n} items exceeds the limit of {MAX_COLLECTION_SIZE}"
        )


def check_int(value: int) -> int:
    if value.bit_length() > MAX_INT_BITS:
        raise ExpressionLimitExceeded(f"integer larger than {MAX_INT_BITS} bits")
    return value


def check_int_bits(bits: int) -> None:
    """Refuse an integer operation whose result would need about ``bits`` bits."""
    if bits > MAX_INT_BITS:
        raise ExpressionLimitExceeded(f"integer larger than {MAX_INT_BITS} bits")
