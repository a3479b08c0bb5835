"""FEEL operator semantics: null propagation, three-valued logic, type mismatch = null.

Per the DMN spec an operator applied to values of the wrong types yields null instead of
failing, so a decision never crashes on odd data. Only resource limits raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from caseflow.errors import ExpressionEvaluationError
from caseflow.expr import temporal
from caseflow.expr.limits import check_size, check_str
from caseflow.expr.values import (
    DECIMAL,
    ContextObject,
    YearMonthDuration,
    member_allowed,
    num_add,
    num_div,
    num_mul,
    num_pow,
    num_sub,
    to_decimal,
)

_ORDERED = {int: "n", float: "n", Decimal: "n", str: "s", date: "d", datetime: "dt",
            time: "t", timedelta: "dtd", YearMonthDuration: "ymd"}  # fmt: skip


def kind(x: object) -> str:
    """FEEL's type of a value, as a short tag; "" for values FEEL does not know."""
    k = _ORDERED.get(type(x))
    if k is not None:
        return k
    if x is None:
        return "null"
    if type(x) is bool:
        return "b"
    if isinstance(x, list | tuple):
        return "list"
    if isinstance(x, Mapping):
        return "ctx"
    if isinstance(x, Interval):
        return "range"
    return ""


@dataclass(frozen=True, slots=True)
class Interval:
    """A FEEL range value ``[low..high)``; ``None`` bounds are unbounded."""

    low: Any
    high: Any
    low_closed: bool
    high_closed: bool

    def contains(self, x: Any) -> bool | None:
        if x is None:
            return None
        if self.low is not None:
            c = lt(self.low, x) if not self.low_closed else le(self.low, x)
            if c is not True:
                return c
        if self.high is not None:
            return lt(x, self.high) if not self.high_closed else le(x, self.high)
        return True


def eq(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return a is b
    ka, kb = kind(a), kind(b)
    if ka != kb or not ka:
        return None
    if ka == "list":
        if len(a) != len(b):
            return False
        result: bool | None = True
        for x, y in zip(a, b, strict=True):
            r = eq(x, y)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    if ka == "ctx":
        if set(a) != set(b):
            return False
        result = True
        for k in a:
            r = eq(a[k], b[k])
            if r is False:
                return False
            if r is None:
                result = None
        return result
    try:
        return bool(a == b)
    except TypeError:
        return None


def ne(a: Any, b: Any) -> bool | None:
    r = eq(a, b)
    return None if r is None else not r


def _ordered(a: Any, b: Any) -> bool:
    ka = _ORDERED.get(type(a))
    return ka is not None and ka == _ORDERED.get(type(b))


def lt(a: Any, b: Any) -> bool | None:
    if not _ordered(a, b):
        return None
    try:
        return bool(a < b)
    except TypeError:  # naive vs aware date-times
        return None


def le(a: Any, b: Any) -> bool | None:
    if not _ordered(a, b):
        return None
    try:
        return bool(a <= b)
    except TypeError:
        return None


def gt(a: Any, b: Any) -> bool | None:
    return lt(b, a)


def ge(a: Any, b: Any) -> bool | None:
    return le(b, a)


def add(a: Any, b: Any) -> Any:
    ka, kb = _ORDERED.get(type(a)), _ORDERED.get(type(b))
    try:
        if ka == "n" and kb == "n":
            return num_add(a, b)
        if ka == "s" and kb == "s":
            return check_str(a + b)
        return temporal.add(a, b)
    except (ArithmeticError, ValueError):
        return None


def sub(a: Any, b: Any) -> Any:
    try:
        if kind(a) == "n" and kind(b) == "n":
            return num_sub(a, b)
        return temporal.sub(a, b)
    except (ArithmeticError, ValueError):
        return None


def mul(a: Any, b: Any) -> Any:
    try:
        if kind(a) == "n" and kind(b) == "n":
            return num_mul(a, b)
        return temporal.mul(a, b)
    except (ArithmeticError, ValueError):
        return None


def div(a: Any, b: Any) -> Any:
    try:
        if kind(a) == "n" and kind(b) == "n":
            return None if not b else num_div(a, b)
        return temporal.div(a, b)
    except (ArithmeticError, ValueError):
        return None


def power(a: Any, b: Any) -> Any:
    if kind(a) != "n" or kind(b) != "n":
        return None
    try:
        return num_pow(a, b)
    except (ArithmeticError, ValueError, ExpressionEvaluationError):
        return None


def neg(a: Any) -> Any:
    k = kind(a)
    if k == "n":
        return DECIMAL.minus(a) if type(a) is Decimal else -a
    if k == "dtd":
        return -a
    if k == "ymd":
        return YearMonthDuration(-a.months)
    return None


def path(target: Any, name: str) -> Any:
    """``target.name``: context entry, projection over a list, temporal property."""
    if isinstance(target, Mapping):
        return target.get(name)
    if isinstance(target, list | tuple):
        check_size(len(target))
        return [path(x, name) for x in target]
    if isinstance(target, ContextObject):
        return context_object_member(target, name)
    if isinstance(target, Interval):
        return {
            "start": target.low,
            "end": target.high,
            "start included": target.low_closed,
            "end included": target.high_closed,
        }.get(name)
    if target is None or kind(target):
        return temporal.prop(target, name) if target is not None else None
    raise ExpressionEvaluationError(f"cannot read {name!r} of an object")


def context_object_member(target: ContextObject, name: str) -> Any:
    if not member_allowed(target, name):
        raise ExpressionEvaluationError(f"{name!r} is not available on this object")
    value = getattr(target, name)
    if callable(value):
        raise ExpressionEvaluationError(f"{name!r} is a method; call it with ()")
    return value


def to_bool(x: Any) -> bool | None:
    return x if type(x) is bool else None


def and_(values: list[Any]) -> bool | None:
    result: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is not True:
            result = None
    return result


def or_(values: list[Any]) -> bool | None:
    result: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is not False:
            result = None
    return result


def index(items: Any, i: Any) -> Any:
    """``list[i]``: 1-based, negative counts from the end, out of range is null."""
    if not isinstance(items, list | tuple):
        items = [items]
    if type(i) is Decimal:
        if i != i.to_integral_value():
            return None
        i = int(i)
    if type(i) is float:
        if not i.is_integer():
            return None
        i = int(i)
    n = len(items)
    if 1 <= i <= n:
        return items[i - 1]
    if -n <= i <= -1:
        return items[n + i]
    return None


def instance_of(x: Any, type_name: str) -> bool:
    k = kind(x)
    return {
        "number": k == "n",
        "string": k == "s",
        "boolean": k == "b",
        "date": k == "d",
        "time": k == "t",
        "date and time": k == "dt",
        "days and time duration": k == "dtd",
        "years and months duration": k == "ymd",
        "list": k == "list",
        "context": k == "ctx",
        "Any": x is not None,
        "Null": x is None,
    }.get(type_name, False)


def integral(x: Any) -> int | None:
    """An iteration bound as int, or None when it is not a whole number."""
    if type(x) is int:
        return x
    if type(x) is Decimal and x == x.to_integral_value():
        return int(x)
    return None


def decimal_of(x: Any) -> Decimal:
    return to_decimal(x)
