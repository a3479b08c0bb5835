"""FEEL built-in functions (DMN 1.3 chapter 10.3.4, the part caseflow needs so far).

Each built-in declares its parameter names (for named arguments such as
``substring(string: s, start position: 2)``) and how many are required; arity and names
are checked at compile time. At run time a built-in given arguments of the wrong type
returns null, as the spec asks; only resource limits raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Any

from caseflow.expr import feel_ops as ops
from caseflow.expr import temporal
from caseflow.expr.limits import check_size, check_str, check_str_length
from caseflow.expr.values import (
    DECIMAL,
    YearMonthDuration,
    is_number,
    num_add,
    parse_number_text,
    to_decimal,
)


@dataclass(frozen=True, slots=True)
class Builtin:
    params: tuple[str, ...]
    required: int
    fn: Callable[..., Any]
    varargs: bool = False  # extra positional arguments are passed on (min(1, 2, 3))
    aliases: Mapping[str, int] = field(default_factory=dict)


def _str(x: Any) -> str | None:
    return x if type(x) is str else None


def _int(x: Any) -> int | None:
    return ops.integral(x)


def _items(args: tuple[Any, ...]) -> list[Any] | None:
    """min(list) and min(a, b, c) are both allowed."""
    if len(args) == 1:
        return list(args[0]) if isinstance(args[0], list | tuple) else [args[0]]
    return list(args)


def _numbers(args: tuple[Any, ...]) -> list[Any] | None:
    items = _items(args)
    if not items or not all(is_number(x) for x in items):
        return None
    return items


# --- strings ---------------------------------------------------------------------------


def f_not(x: Any) -> bool | None:
    return (not x) if type(x) is bool else None


def f_string_length(s: Any) -> int | None:
    return len(s) if type(s) is str else None


def f_substring(s: Any, start: Any, length: Any = None) -> str | None:
    st = _int(start)
    if type(s) is not str or st is None or st == 0:
        return None
    i = st - 1 if st > 0 else len(s) + st
    i = max(i, 0)
    if length is None:
        return s[i:]
    n = _int(length)
    if n is None or n < 0:
        return None
    return s[i : i + n]


def f_substring_before(s: Any, match: Any) -> str | None:
    if type(s) is not str or type(match) is not str:
        return None
    i = s.find(match)
    return "" if i < 0 else s[:i]


def f_substring_after(s: Any, match: Any) -> str | None:
    if type(s) is not str or type(match) is not str:
        return None
    i = s.find(match)
    return "" if i < 0 else s[i + len(match) :]


def _two_str(fn: Callable[[str, str], Any]) -> Callable[[Any, Any], Any]:
    def call(s: Any, match: Any) -> Any:
        if type(s) is not str or type(match) is not str:
            return None
        return fn(s, match)

    return call


def f_string(x: Any) -> str | None:
    if x is None:
        return None
    return check_str(to_feel_string(x))


def to_feel_string(x: Any) -> str:
    if type(x) is str:
        return x
    if x is None:
        return "null"
    if type(x) is bool:
        return "true" if x else "false"
    if type(x) is Decimal:
        return format(x, "f")
    if is_number(x):
        return repr(x)
    if isinstance(x, list | tuple):
        check_size(len(x))
        return "[" + ", ".join(_quoted(v) for v in x) + "]"
    if isinstance(x, Mapping):
        check_size(len(x))
        return "{" + ", ".join(f"{k}: {_quoted(v)}" for k, v in x.items()) + "}"
    if isinstance(x, ops.Interval):
        lo = "[" if x.low_closed else "("
        hi = "]" if x.high_closed else ")"
        return f"{lo}{to_feel_string(x.low)}..{to_feel_string(x.high)}{hi}"
    formatted = temporal.format_value(x)
    return formatted if formatted is not None else "null"


def _quoted(x: Any) -> str:
    if type(x) is str:
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return to_feel_string(x)


def f_number(s: Any, grouping: Any = None, decimal_sep: Any = None) -> Any:
    if is_number(s):
        return s
    if type(s) is not str:
        return None
    if grouping not in (None, " ", ",", ".") or decimal_sep not in (None, ",", "."):
        return None
    if grouping is not None and grouping == decimal_sep:
        return None
    text = s
    if grouping is not None:
        text = text.replace(grouping, "")
    if decimal_sep is not None and decimal_sep != ".":
        text = text.replace(decimal_sep, ".")
    return parse_number_text(text)


def f_string_join(items: Any, delimiter: Any = None, prefix: Any = None, suffix: Any = None) -> Any:
    if not isinstance(items, list | tuple):
        return None
    parts = [x for x in items if x is not None]
    if not all(type(x) is str for x in parts):
        return None
    for extra in (delimiter, prefix, suffix):
        if extra is not None and type(extra) is not str:
            return None
    d = delimiter or ""
    total = sum(len(x) for x in parts) + len(d) * max(0, len(parts) - 1)
    check_str_length(total + len(prefix or "") + len(suffix or ""))
    return (prefix or "") + d.join(parts) + (suffix or "")


# --- lists -----------------------------------------------------------------------------


def f_count(items: Any) -> int | None:
    return len(items) if isinstance(items, list | tuple) else None


def f_sum(*args: Any) -> Any:
    items = _numbers(args)
    if items is None:
        return None
    total: Any = 0
    for x in items:
        total = num_add(total, x)
    return total


def f_mean(*args: Any) -> Any:
    items = _numbers(args)
    if items is None:
        return None
    return DECIMAL.divide(to_decimal(f_sum(items)), Decimal(len(items)))


def f_median(*args: Any) -> Any:
    items = _numbers(args)
    if items is None:
        return None
    items.sort()
    n = len(items)
    if n % 2:
        return items[n // 2]
    return DECIMAL.divide(to_decimal(num_add(items[n // 2 - 1], items[n // 2])), Decimal(2))


def _extreme(args: tuple[Any, ...], better: Callable[[Any, Any], bool | None]) -> Any:
    items = _items(args)
    if not items:
        return None
    best = items[0]
    for x in items[1:]:
        r = better(x, best)
        if r is None:
            return None
        if r:
            best = x
    if len(items) == 1 and not ops.kind(best):
        return None
    return best


def f_min(*args: Any) -> Any:
    return _extreme(args, ops.lt)


def f_max(*args: Any) -> Any:
    return _extreme(args, ops.gt)


def f_product(*args: Any) -> Any:
    items = _numbers(args)
    if items is None:
        return None
    result: Any = 1
    for x in items:
        result = ops.mul(result, x)
    return result


def f_all(*args: Any) -> bool | None:
    items = _items(args)
    return None if items is None else ops.and_(items)


def f_any(*args: Any) -> bool | None:
    items = _items(args)
    return None if items is None else ops.or_(items)


def f_list_contains(items: Any, element: Any) -> bool | None:
    if not isinstance(items, list | tuple):
        return None
    return any(ops.eq(x, element) is True for x in items)


def f_append(items: Any, *extra: Any) -> list[Any] | None:
    if not isinstance(items, list | tuple):
        return None
    check_size(len(items) + len(extra))
    return [*items, *extra]


def f_concatenate(*lists: Any) -> list[Any] | None:
    if not all(isinstance(x, list | tuple) for x in lists):
        return None
    check_size(sum(len(x) for x in lists))
    out: list[Any] = []
    for x in lists:
        out.extend(x)
    return out


def f_reverse(items: Any) -> list[Any] | None:
    return list(reversed(items)) if isinstance(items, list | tuple) else None


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[Any] = set()
    for x in items:
        try:
            key = (type(x) is bool, x)
            if key in seen:
                continue
            seen.add(key)
            out.append(x)
        except TypeError:  # unhashable (list, context): quadratic, so keep it small
            check_size(len(items) * len(out) // 100, "comparison")
            if not any(ops.eq(x, y) is True for y in out):
                out.append(x)
    return out


def f_distinct_values(items: Any) -> list[Any] | None:
    return _distinct(list(items)) if isinstance(items, list | tuple) else None


def f_union(*lists: Any) -> list[Any] | None:
    joined = f_concatenate(*lists)
    return None if joined is None else _distinct(joined)


def f_flatten(items: Any) -> list[Any] | None:
    if not isinstance(items, list | tuple):
        return None
    out: list[Any] = []
    stack: list[Any] = [iter(items)]
    while stack:
        for x in stack[-1]:
            if isinstance(x, list | tuple):
                stack.append(iter(x))
                break
            out.append(x)
            check_size(len(out))
        else:
            stack.pop()
    return out


def f_index_of(items: Any, match: Any) -> list[int] | None:
    if not isinstance(items, list | tuple):
        return None
    return [i + 1 for i, x in enumerate(items) if ops.eq(x, match) is True]


def f_sublist(items: Any, start: Any, length: Any = None) -> list[Any] | None:
    st = _int(start)
    if not isinstance(items, list | tuple) or st is None or st == 0:
        return None
    n = len(items)
    i = st - 1 if st > 0 else n + st
    if not 0 <= i < n:
        return None
    if length is None:
        return list(items[i:])
    k = _int(length)
    return None if k is None or k < 0 else list(items[i : i + k])


def f_insert_before(items: Any, position: Any, new_item: Any) -> list[Any] | None:
    p = _int(position)
    if not isinstance(items, list | tuple) or p is None or p == 0:
        return None
    n = len(items)
    i = p - 1 if p > 0 else n + p
    if not 0 <= i <= n:
        return None
    check_size(n + 1)
    out = list(items)
    out.insert(i, new_item)
    return out


def f_remove(items: Any, position: Any) -> list[Any] | None:
    p = _int(position)
    if not isinstance(items, list | tuple) or p is None or p == 0:
        return None
    n = len(items)
    i = p - 1 if p > 0 else n + p
    if not 0 <= i < n:
        return None
    out = list(items)
    del out[i]
    return out


# --- numbers ---------------------------------------------------------------------------


def f_abs(n: Any) -> Any:
    if is_number(n):
        return abs(n)
    if type(n) is timedelta:
        return abs(n)
    if type(n) is YearMonthDuration:
        return YearMonthDuration(abs(n.months))
    return None


def _integral(n: Any, mode: str) -> Any:
    if type(n) is int:
        return n
    if type(n) is Decimal:
        return n.to_integral_value(rounding=mode, context=DECIMAL)
    if type(n) is float:
        return math.floor(n) if mode == ROUND_FLOOR else math.ceil(n)
    return None


def f_floor(n: Any, scale: Any = None) -> Any:
    return _integral(n, ROUND_FLOOR) if scale is None else _round(n, scale, ROUND_FLOOR)


def f_ceiling(n: Any, scale: Any = None) -> Any:
    return _integral(n, ROUND_CEILING) if scale is None else _round(n, scale, ROUND_CEILING)


def _round(n: Any, scale: Any, mode: str) -> Any:
    s = _int(scale)
    if not is_number(n) or s is None or not -6111 <= s <= 6176:
        return None
    return to_decimal(n).quantize(Decimal(1).scaleb(-s), rounding=mode, context=DECIMAL)


def _rounder(mode: str) -> Callable[[Any, Any], Any]:
    return lambda n, scale: _round(n, scale, mode)


def f_modulo(a: Any, b: Any) -> Any:
    """Floored modulo: the result has the sign of the divisor (modulo(-7, 3) = 2)."""
    if not is_number(a) or not is_number(b) or not b:
        return None
    if type(a) is int and type(b) is int:
        return a % b
    x, y = to_decimal(a), to_decimal(b)
    r = DECIMAL.remainder(x, y)
    if r and (r < 0) != (y < 0):
        r = DECIMAL.add(r, y)
    return r


def f_sqrt(n: Any) -> Any:
    if not is_number(n) or n < 0:
        return None
    return DECIMAL.sqrt(to_decimal(n))


def f_log(n: Any) -> Any:
    if not is_number(n) or n <= 0:
        return None
    return DECIMAL.ln(to_decimal(n))


def f_exp(n: Any) -> Any:
    return DECIMAL.exp(to_decimal(n)) if is_number(n) else None


def f_odd(n: Any) -> bool | None:
    i = _int(n)
    return None if i is None else i % 2 == 1


def f_even(n: Any) -> bool | None:
    i = _int(n)
    return None if i is None else i % 2 == 0


# --- temporal --------------------------------------------------------------------------


def f_date(x: Any, month: Any = None, day: Any = None) -> date | None:
    if month is None and day is None:
        if type(x) is str:
            return temporal.parse_date(x)
        if type(x) is datetime:
            return x.date()
        if type(x) is date:
            return x
        return None
    y, m, d = _int(x), _int(month), _int(day)
    if y is None or m is None or d is None:
        return None
    return date(y, m, d)


def f_time(x: Any, minute: Any = None, second: Any = None, offset: Any = None) -> time | None:
    if minute is None and second is None:
        if type(x) is str:
            return temporal.parse_time(x)
        if type(x) is datetime:
            return x.timetz()
        if type(x) is time:
            return x
        return None
    h, m = _int(x), _int(minute)
    if h is None or m is None or not is_number(second):
        return None
    whole = math.floor(second)
    micro = int((to_decimal(second) - whole) * 1_000_000)
    tz = None
    if offset is not None:
        if type(offset) is not timedelta:
            return None
        tz = timezone(offset)
    return time(h, m, whole, micro, tzinfo=tz)


def f_date_and_time(x: Any, t: Any = None) -> datetime | None:
    if t is None:
        if type(x) is str:
            return temporal.parse_datetime(x)
        if type(x) is datetime:
            return x
        if type(x) is date:
            return datetime(x.year, x.month, x.day)  # noqa: DTZ001  (FEEL local date-time)
        return None
    if type(x) not in (date, datetime) or type(t) is not time:
        return None
    return datetime.combine(x if type(x) is date else x.date(), t)


def f_duration(x: Any) -> Any:
    return temporal.parse_duration(x) if type(x) is str else None


def f_years_and_months_duration(a: Any, b: Any) -> YearMonthDuration | None:
    if type(a) not in (date, datetime) or type(b) not in (date, datetime):
        return None
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if months > 0 and b.day < a.day:
        months -= 1
    elif months < 0 and b.day > a.day:
        months += 1
    return YearMonthDuration(months)


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


def _dated(fn: Callable[[date], Any]) -> Callable[[Any], Any]:
    return lambda d: fn(d) if type(d) in (date, datetime) else None


# --- contexts --------------------------------------------------------------------------


def f_get_value(m: Any, key: Any) -> Any:
    return m.get(key) if isinstance(m, Mapping) and type(key) is str else None


def f_get_entries(m: Any) -> list[dict[str, Any]] | None:
    if not isinstance(m, Mapping):
        return None
    return [{"key": k, "value": v} for k, v in m.items()]


def f_context_put(m: Any, key: Any, value: Any) -> dict[str, Any] | None:
    if not isinstance(m, Mapping) or type(key) is not str:
        return None
    check_size(len(m) + 1)
    out = dict(m)
    out[key] = value
    return out


def _b(params: str, fn: Callable[..., Any], *, required: int | None = None,
       varargs: bool = False, aliases: Mapping[str, int] | None = None) -> Builtin:  # fmt: skip
    names = tuple(p.strip() for p in params.split(",")) if params else ()
    return Builtin(names, len(names) if required is None else required, fn, varargs,
                   aliases or {})  # fmt: skip


BUILTINS: dict[str, Builtin] = {
    "not": _b("negand", f_not),
    "string length": _b("string", f_string_length),
    "substring": _b("string, start position, length", f_substring, required=2),
    "upper case": _b("string", lambda s: s.upper() if type(s) is str else None),
    "lower case": _b("string", lambda s: s.lower() if type(s) is str else None),
    "substring before": _b("string, match", f_substring_before),
    "substring after": _b("string, match", f_substring_after),
    "contains": _b("string, match", _two_str(lambda s, m: m in s)),
    "starts with": _b("string, match", _two_str(str.startswith)),
    "ends with": _b("string, match", _two_str(str.endswith)),
    "string": _b("from", f_string),
    "number": _b("from, grouping separator, decimal separator", f_number, required=1),
    "string join": _b("list, delimiter, prefix, suffix", f_string_join, required=1),
    "count": _b("list", f_count),
    "sum": _b("list", f_sum, varargs=True),
    "mean": _b("list", f_mean, varargs=True),
    "median": _b("list", f_median, varargs=True),
    "min": _b("list", f_min, varargs=True),
    "max": _b("list", f_max, varargs=True),
    "product": _b("list", f_product, varargs=True),
    "all": _b("list", f_all, varargs=True),
    "any": _b("list", f_any, varargs=True),
    "list contains": _b("list, element", f_list_contains),
    "append": _b("list, item", f_append, varargs=True),
    "concatenate": _b("list", f_concatenate, varargs=True),
    "reverse": _b("list", f_reverse),
    "distinct values": _b("list", f_distinct_values),
    "union": _b("list", f_union, varargs=True),
    "flatten": _b("list", f_flatten),
    "index of": _b("list, match", f_index_of),
    "sublist": _b("list, start position, length", f_sublist, required=2),
    "insert before": _b("list, position, newItem", f_insert_before),
    "remove": _b("list, position", f_remove),
    "is defined": _b("value", lambda v: v is not None),  # compiled specially
    "abs": _b("n", f_abs),
    "floor": _b("n, scale", f_floor, required=1),
    "ceiling": _b("n, scale", f_ceiling, required=1),
    "decimal": _b("n, scale", _rounder(ROUND_HALF_EVEN)),
    "round up": _b("n, scale", _rounder(ROUND_UP)),
    "round down": _b("n, scale", _rounder(ROUND_DOWN)),
    "round half up": _b("n, scale", _rounder(ROUND_HALF_UP)),
    "round half down": _b("n, scale", _rounder(ROUND_HALF_DOWN)),
    "modulo": _b("dividend, divisor", f_modulo),
    "sqrt": _b("number", f_sqrt),
    "log": _b("number", f_log),
    "exp": _b("number", f_exp),
    "odd": _b("number", f_odd),
    "even": _b("number", f_even),
    "date": _b("year, month, day", f_date, required=1, aliases={"from": 0}),
    "time": _b("hour, minute, second, offset", f_time, required=1, aliases={"from": 0}),
    "date and time": _b("date, time", f_date_and_time, required=1, aliases={"from": 0}),
    "duration": _b("from", f_duration),
    "years and months duration": _b("from, to", f_years_and_months_duration),
    "day of week": _b("date", _dated(lambda d: _DAYS[d.weekday()])),
    "day of year": _b("date", _dated(lambda d: d.timetuple().tm_yday)),
    "month of year": _b("date", _dated(lambda d: _MONTHS[d.month - 1])),
    "week of year": _b("date", _dated(lambda d: d.isocalendar()[1])),
    "get value": _b("m, key", f_get_value),
    "get entries": _b("m", f_get_entries),
    "context put": _b("context, key, value", f_context_put),
}
