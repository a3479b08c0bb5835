"""UEL (Java EL) operator semantics, shared by the UEL and plain dialects.

Follows the coercion rules of the EL specification where they matter to process
conditions: ``null`` is 0 in arithmetic and false in boolean context, numeric strings
compare as numbers, ``<`` with ``null`` is false, ``/`` never truncates (5/2 = 2.5),
``%`` keeps the sign of the dividend like Java. Errors are
:class:`~caseflow.errors.ExpressionEvaluationError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from caseflow.errors import ExpressionEvaluationError
from caseflow.expr import temporal
from caseflow.expr.feel_ops import context_object_member
from caseflow.expr.limits import check_size, check_str
from caseflow.expr.values import (
    ContextObject,
    YearMonthDuration,
    is_number,
    num_add,
    num_div,
    num_mul,
    num_sub,
    parse_number_text,
    type_name,
)

_TEMPORAL = (date, datetime, time, timedelta, YearMonthDuration)


def to_number(x: Any) -> Any:
    t = type(x)
    if t is int or t is Decimal or t is float:
        return x
    if x is None:
        return 0
    if t is str:
        if not x.strip():
            return 0
        n = parse_number_text(x)
        if n is not None:
            return n
        raise ExpressionEvaluationError(f"cannot convert {_short(x)} to a number")
    raise ExpressionEvaluationError(f"cannot convert a {type_name(x)} to a number")


def to_bool(x: Any) -> bool:
    if x is True or x is False:
        return x
    if x is None:
        return False
    if type(x) is str:
        return x.strip().lower() == "true"
    raise ExpressionEvaluationError(f"cannot use a {type_name(x)} as a boolean")


def to_str(x: Any) -> str:
    """EL coercion to string (composite expressions, ``+=``)."""
    if type(x) is str:
        return x
    if x is None:
        return ""
    if x is True:
        return "true"
    if x is False:
        return "false"
    if is_number(x):
        return repr(x) if type(x) is float else str(x)
    if isinstance(x, list | tuple):
        check_size(len(x))
        return check_str("[" + ", ".join(_inner_str(v) for v in x) + "]")
    if isinstance(x, Mapping):
        check_size(len(x))
        entries = ", ".join(f"{_inner_str(k)}={_inner_str(v)}" for k, v in x.items())
        return check_str("{" + entries + "}")
    text = temporal.format_value(x)
    if text is not None:
        return text
    if isinstance(x, ContextObject):
        return str(x)
    raise ExpressionEvaluationError(f"cannot convert a {type_name(x)} to a string")


def _inner_str(x: Any) -> str:
    return "null" if x is None else to_str(x)


def _short(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:37] + "...")


def add(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return a + b
    if isinstance(a, _TEMPORAL) or isinstance(b, _TEMPORAL):
        r = temporal.add(a, b)
        if r is None:
            raise ExpressionEvaluationError(f"cannot add a {type_name(b)} to a {type_name(a)}")
        return r
    return num_add(to_number(a), to_number(b))


def sub(a: Any, b: Any) -> Any:
    if isinstance(a, _TEMPORAL) or isinstance(b, _TEMPORAL):
        r = temporal.sub(a, b)
        if r is None:
            raise ExpressionEvaluationError(
                f"cannot subtract a {type_name(b)} from a {type_name(a)}"
            )
        return r
    return num_sub(to_number(a), to_number(b))


def mul(a: Any, b: Any) -> Any:
    return num_mul(to_number(a), to_number(b))


def div(a: Any, b: Any) -> Any:
    return num_div(to_number(a), to_number(b))


def mod(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if not y:
        raise ExpressionEvaluationError("division by zero")
    if type(x) is int and type(y) is int:
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    if type(x) is float or type(y) is float:
        return math.fmod(float(x), float(y))
    return Decimal(x) % Decimal(y)


def neg(a: Any) -> Any:
    if isinstance(a, timedelta):
        return -a
    return -to_number(a)


def concat(a: Any, b: Any) -> str:
    return check_str(to_str(a) + to_str(b))


def empty(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, str | list | tuple | Mapping):
        return len(x) == 0
    return False


def eq(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    ta, tb = type(a), type(b)
    if ta is tb and (ta is str or ta is int):
        return bool(a == b)
    if is_number(a) or is_number(b):
        return bool(to_number(a) == to_number(b))
    if ta is bool or tb is bool:
        return to_bool(a) == to_bool(b)
    if ta is str or tb is str:
        return to_str(a) == to_str(b)
    try:
        return bool(a == b)
    except TypeError:
        return False


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def _cmp_operands(a: Any, b: Any) -> tuple[Any, Any] | None:
    """The operands, coerced for ordering, or None when either is null."""
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    if ta is tb and ta in (str, int, Decimal, float, bool):
        return a, b
    if is_number(a) or is_number(b):
        return to_number(a), to_number(b)
    if ta is tb and isinstance(a, _TEMPORAL):
        return a, b
    raise ExpressionEvaluationError(f"cannot compare a {type_name(a)} with a {type_name(b)}")


def lt(a: Any, b: Any) -> bool:
    ops = _cmp_operands(a, b)
    return ops is not None and _order(ops[0], ops[1], "<")


def le(a: Any, b: Any) -> bool:
    ops = _cmp_operands(a, b)
    return ops is not None and _order(ops[0], ops[1], "<=")


def gt(a: Any, b: Any) -> bool:
    ops = _cmp_operands(a, b)
    return ops is not None and _order(ops[1], ops[0], "<")


def ge(a: Any, b: Any) -> bool:
    ops = _cmp_operands(a, b)
    return ops is not None and _order(ops[1], ops[0], "<=")


def _order(x: Any, y: Any, op: str) -> bool:
    try:
        return bool(x < y) if op == "<" else bool(x <= y)
    except TypeError:
        raise ExpressionEvaluationError(
            f"cannot compare a {type_name(x)} with a {type_name(y)}"
        ) from None


def member(target: Any, name: str) -> Any:
    """``a.b``: a map entry (missing is null, as in EL) or a ContextObject member."""
    if isinstance(target, Mapping):
        return target.get(name)
    if target is None:
        return None
    if isinstance(target, ContextObject):
        return context_object_member(target, name)
    prop = temporal.prop(target, name) if isinstance(target, _TEMPORAL) else None
    if prop is not None:
        return prop
    raise ExpressionEvaluationError(f"cannot read property {name!r} of a {type_name(target)}")


def index(target: Any, key: Any) -> Any:
    """``a[k]``: map lookup or list position (out of range is null, as in EL)."""
    if target is None:
        return None
    if isinstance(target, Mapping):
        return target.get(key)
    if isinstance(target, list | tuple):
        i = to_number(key)
        if type(i) is not int:
            if i != int(i):
                raise ExpressionEvaluationError(f"list index {key!r} is not a whole number")
            i = int(i)
        return target[i] if 0 <= i < len(target) else None
    if isinstance(target, ContextObject) and type(key) is str:
        return context_object_member(target, key)
    raise ExpressionEvaluationError(f"cannot index a {type_name(target)}")
