"""Values as expressions see them: plain data, numbers, scopes, and ContextObject.

Expressions only ever touch plain data (None, bool, int, Decimal, float, str, list,
dict, date/time values, durations) and :class:`ContextObject` instances, whose visible
surface is an explicit allow-list. Nothing here calls ``getattr`` on arbitrary objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any, ClassVar

from caseflow.errors import ExpressionEvaluationError
from caseflow.expr.limits import Budget, check_int_bits

#: FEEL numbers are IEEE 754-2008 Decimal128: 34 significant digits. Operations use this
#: context explicitly so a caller's thread-local decimal context never changes results,
#: and the exponent range keeps every Decimal small.
DECIMAL: Context = Context(
    prec=34, Emax=6144, Emin=-6143, traps=[InvalidOperation, DivisionByZero, Overflow]
)

NUMBER_TYPES = (int, float, Decimal)


class ContextObject:
    """Base class of engine objects exposed to expressions (Camunda's ``execution``, ...).

    Expressions may read the attributes and call the methods named in
    ``expression_members`` and nothing else; names starting with ``_`` are refused even
    when listed.
    """

    expression_members: ClassVar[frozenset[str]] = frozenset()


def member_allowed(obj: ContextObject, name: str) -> bool:
    return name in type(obj).expression_members and not name.startswith("_")


@dataclass(frozen=True, slots=True, order=True)
class YearMonthDuration:
    """A FEEL years-and-months duration (``P1Y2M``); ``timedelta`` is days-and-time."""

    months: int

    def __str__(self) -> str:
        sign = "-" if self.months < 0 else ""
        y, m = divmod(abs(self.months), 12)
        if y and m:
            return f"{sign}P{y}Y{m}M"
        if y:
            return f"{sign}P{y}Y"
        return f"{sign}P{m}M"


def is_number(x: object) -> bool:
    t = type(x)
    return t is int or t is Decimal or t is float


def to_decimal(x: int | float | Decimal) -> Decimal:
    if type(x) is Decimal:
        return x
    if type(x) is float:
        if not math.isfinite(x):
            raise ExpressionEvaluationError(f"cannot use {x} as a decimal number")
        return Decimal(repr(x))
    return Decimal(x)


def num_add(a: Any, b: Any) -> Any:
    if type(a) is Decimal or type(b) is Decimal:
        return DECIMAL.add(to_decimal(a), to_decimal(b))
    return a + b


def num_sub(a: Any, b: Any) -> Any:
    if type(a) is Decimal or type(b) is Decimal:
        return DECIMAL.subtract(to_decimal(a), to_decimal(b))
    return a - b


def num_mul(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        check_int_bits(a.bit_length() + b.bit_length())
        return a * b
    if type(a) is Decimal or type(b) is Decimal:
        return DECIMAL.multiply(to_decimal(a), to_decimal(b))
    return a * b


def num_div(a: Any, b: Any) -> Any:
    """Division that never truncates: ints and Decimals give a Decimal, floats a float."""
    if not b:
        raise ExpressionEvaluationError("division by zero")
    if type(a) is float or type(b) is float:
        if type(a) is Decimal or type(b) is Decimal:
            return DECIMAL.divide(to_decimal(a), to_decimal(b))
        return a / b
    return DECIMAL.divide(to_decimal(a), to_decimal(b))


def num_pow(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b < 0:
            return DECIMAL.power(Decimal(a), Decimal(b)) if a else num_div(1, 0)
        if abs(a) > 1:
            check_int_bits(a.bit_length() * b)
        return a**b
    if type(b) is Decimal and b == b.to_integral_value() and type(a) is not float:
        # An integral Decimal exponent keeps exact results for Decimal bases (2.5 ** 2.0).
        return DECIMAL.power(to_decimal(a), b)
    if type(a) is float or type(b) is float:
        result = float(a) ** float(b)
        if isinstance(result, complex):
            raise ExpressionEvaluationError("power has no real result")
        return result
    return DECIMAL.power(to_decimal(a), to_decimal(b))


def normalize_integral(x: Decimal) -> int | Decimal:
    """Integral Decimals that fit comfortably become ints (cheaper, exact)."""
    if x == x.to_integral_value() and x.adjusted() < 30:
        return int(x)
    return x


def parse_number_text(text: str) -> int | Decimal | None:
    """A plain decimal number from text (``12``, ``-1.5``, ``2e3``); None if not one."""
    s = text.strip()
    if not s or len(s) > 100:
        return None
    body = s[1:] if s[0] in "+-" else s
    if not body or not (body[0].isdigit() or (body[0] == "." and len(body) > 1)):
        return None
    if not all(c.isdigit() or c in ".eE+-" for c in body) or not body.isascii():
        return None
    try:
        if body.isdigit():
            return int(s)
        return DECIMAL.create_decimal(s)
    except (InvalidOperation, ValueError):
        return None


def type_name(x: object) -> str:
    """A user-facing type name; never the Python class of an arbitrary object."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, NUMBER_TYPES):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list | tuple):
        return "list"
    if isinstance(x, Mapping):
        return "context"
    if isinstance(x, datetime):
        return "date and time"
    if isinstance(x, date):
        return "date"
    if isinstance(x, time):
        return "time"
    if isinstance(x, timedelta):
        return "days and time duration"
    if isinstance(x, YearMonthDuration):
        return "years and months duration"
    if isinstance(x, ContextObject):
        return "object"
    return "object"


class Scope(Mapping[str, Any]):
    """Variables seen inside a loop, filter or context literal: ``local`` shadows ``parent``.

    Carries the evaluation's :class:`Budget`, so loop constructs find it without any
    per-evaluation state in the compiled (shared) closures.
    """

    __slots__ = ("budget", "local", "parent")

    def __init__(self, local: dict[str, Any], parent: Mapping[str, Any], budget: Budget) -> None:
        self.local = local
        self.parent = parent
        self.budget = budget

    def __getitem__(self, key: str) -> Any:
        try:
            return self.local[key]
        except KeyError:
            return self.parent[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.local:
            return self.local[key]
        return self.parent.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.local or key in self.parent

    def __iter__(self) -> Iterator[str]:
        yield from self.local
        for k in self.parent:
            if k not in self.local:
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)
