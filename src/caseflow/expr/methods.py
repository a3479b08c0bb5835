"""The methods UEL expressions may call on values: a fixed allow-list, Java-named.

``${name.toUpperCase()}`` calls the function registered here for strings, never the
Python attribute of that name. ContextObject members are the other source of methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from caseflow.errors import CaseflowError, ExpressionEvaluationError
from caseflow.expr.limits import check_size, check_str, check_str_length
from caseflow.expr.uel_ops import eq, to_number, to_str
from caseflow.expr.values import ContextObject, member_allowed, type_name

Method = tuple[int, int, Callable[..., Any]]  # (min args, max args, implementation)


def _int_arg(x: Any) -> int:
    n = to_number(x)
    if type(n) is not int:
        if n != int(n):
            raise ExpressionEvaluationError(f"{x!r} is not a whole number")
        n = int(n)
    return int(n)


def _substring(s: str, begin: Any, end: Any = None) -> str:
    b = _int_arg(begin)
    e = len(s) if end is None else _int_arg(end)
    if b < 0 or e > len(s) or b > e:
        raise ExpressionEvaluationError(
            f"substring({b}, {e}) is out of range for a string of length {len(s)}"
        )
    return s[b:e]


def _replace(s: str, old: Any, new: Any) -> str:
    o, n = _str_arg(old), _str_arg(new)
    count = s.count(o) if o else len(s) + 1
    check_str_length(len(s) + count * (len(n) - len(o)))
    return s.replace(o, n)


def _list_get(items: Any, i: Any) -> Any:
    k = _int_arg(i)
    if not 0 <= k < len(items):
        raise ExpressionEvaluationError(
            f"index {k} is out of range for a list of size {len(items)}"
        )
    return items[k]


def _index_of(items: Any, x: Any) -> int:
    for i, v in enumerate(items):
        if eq(v, x):
            return i
    return -1


def _str_arg(x: Any) -> str:
    if x is None:
        raise ExpressionEvaluationError("argument must not be null")
    return to_str(x)


STRING_METHODS: dict[str, Method] = {
    "contains": (1, 1, lambda s, x: _str_arg(x) in s),
    "startsWith": (1, 1, lambda s, x: s.startswith(_str_arg(x))),
    "endsWith": (1, 1, lambda s, x: s.endswith(_str_arg(x))),
    "length": (0, 0, len),
    "toUpperCase": (0, 0, str.upper),
    "toLowerCase": (0, 0, str.lower),
    "trim": (0, 0, str.strip),
    "equals": (1, 1, lambda s, x: type(x) is str and s == x),
    "equalsIgnoreCase": (1, 1, lambda s, x: type(x) is str and s.lower() == x.lower()),
    "isEmpty": (0, 0, lambda s: not s),
    "substring": (1, 2, _substring),
    "indexOf": (1, 1, lambda s, x: s.find(_str_arg(x))),
    "lastIndexOf": (1, 1, lambda s, x: s.rfind(_str_arg(x))),
    "replace": (2, 2, _replace),
    "concat": (1, 1, lambda s, x: check_str(s + _str_arg(x))),
    "toString": (0, 0, lambda s: s),
}

LIST_METHODS: dict[str, Method] = {
    "size": (0, 0, len),
    "contains": (1, 1, lambda items, x: _index_of(items, x) >= 0),
    "isEmpty": (0, 0, lambda items: not items),
    "get": (1, 1, _list_get),
    "indexOf": (1, 1, _index_of),
}

MAP_METHODS: dict[str, Method] = {
    "get": (1, 1, lambda m, k: m.get(k)),
    "containsKey": (1, 1, lambda m, k: k in m),
    "containsValue": (1, 1, lambda m, v: any(eq(x, v) for x in m.values())),
    "size": (0, 0, len),
    "isEmpty": (0, 0, lambda m: not m),
    "keySet": (0, 0, lambda m: _sized(list(m.keys()))),
    "values": (0, 0, lambda m: _sized(list(m.values()))),
}


def _sized(items: list[Any]) -> list[Any]:
    check_size(len(items))
    return items


def call_method(target: Any, name: str, args: list[Any]) -> Any:
    if isinstance(target, ContextObject):
        if not member_allowed(target, name):
            raise ExpressionEvaluationError(f"method {name!r} is not available on this object")
        fn = getattr(target, name)
        if not callable(fn):
            raise ExpressionEvaluationError(f"{name!r} is not a method")
        try:
            return fn(*args)
        except CaseflowError:
            raise
        except (TypeError, ValueError, LookupError, ArithmeticError) as e:
            raise ExpressionEvaluationError(f"{name}() failed: {e}") from e
    if target is None:
        raise ExpressionEvaluationError(f"cannot call {name}() on null")
    table: dict[str, Method] | None
    if isinstance(target, str):
        table = STRING_METHODS
    elif isinstance(target, list | tuple):
        table = LIST_METHODS
    elif isinstance(target, Mapping):
        table = MAP_METHODS
    else:
        table = None
    method = None if table is None else table.get(name)
    if method is None:
        raise ExpressionEvaluationError(f"unknown method {name!r} for a {type_name(target)}")
    lo, hi, impl = method
    if not lo <= len(args) <= hi:
        expected = str(lo) if lo == hi else f"{lo} to {hi}"
        raise ExpressionEvaluationError(
            f"{name}() takes {expected} argument(s), got {len(args)}"
        )
    return impl(target, *args)
