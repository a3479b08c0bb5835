"""Typed variable values to and from the typed columns of ``variable``.

Each type has a home column that keeps the value exactly, and, where it helps a query,
a second column for comparisons (an integer is also a double, so "amount > 1000" works
across integers, decimals and floats; a date is also an instant). See
:data:`caseflow.store.schema.variable`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from caseflow.engine.state import Variable
from caseflow.store.schema import INDEXED_TEXT_MAX_BYTES

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

VALUE_COLUMNS = (
    "text_value", "long_text", "long_value", "double_value", "time_value", "json_value",
)


# made once: json.dumps and json.loads build a new encoder or decoder on every call that
# passes options, and these run for every JSON column read or written
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_decode = json.JSONDecoder(parse_float=Decimal).decode


def dumps_json(value: Any) -> str:
    """JSON text; a :class:`~decimal.Decimal` inside is written as the number it is.

    The engine lets JSON variables hold decimals (money must stay exact), which the
    standard encoder refuses; they are written digit for digit (``1.10`` stays ``1.10``)
    and :func:`loads_json` reads every number with a fraction back as a Decimal. JSON
    has one kind of number: inside a JSON value, a float comes back as a Decimal and an
    integral Decimal as an int (top-level ``float``/``decimal`` variables keep their type).
    """
    try:
        return _encode(value)
    except TypeError:
        parts: list[str] = []
        _write_json(value, parts)
        return "".join(parts)


def _write_json(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"JSON has no number {value}")
        # plain digits, so that SQLite's text and PostgreSQL's jsonb give back the same:
        # 1.10 -> Decimal("1.10"); an integral decimal (5, 1E+2) -> int
        out.append(format(value, "f"))
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_encode(k if isinstance(k, str) else str(k)))
            out.append(":")
            _write_json(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _write_json(v, out)
        out.append("]")
    else:
        out.append(_encode(value))


def loads_json(text: str | bytes) -> Any:
    """The inverse of :func:`dumps_json`: numbers with a fraction come back as Decimal."""
    if not isinstance(text, str):
        text = bytes(text).decode()  # the databases send UTF-8
    return _decode(text)


def _bad(var: Variable) -> ValueError:
    return ValueError(
        f"variable {var.name!r} of type {var.type!r} cannot hold {type(var.value).__name__} "
        f"value {var.value!r}"
    )


def _as_double(value: int | Decimal) -> float | None:
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _aware(value: datetime) -> datetime:
    # a naive value from outside (a form, a script) is read as UTC, and comes back aware
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def encode(var: Variable) -> tuple[Any, Any, Any, Any, Any, Any]:
    """The variable's (text, long text, long, double, time, json) column values."""
    value = var.value
    text: str | None = None
    long_value: int | None = None
    double: float | None = None
    instant: datetime | None = None
    json_value: Any = None
    kind = var.type
    if value is None:
        pass  # a typed variable may be null
    elif kind == "string":
        if not isinstance(value, str):
            raise _bad(var)
        text = value
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad(var)
        if _INT64_MIN <= value <= _INT64_MAX:
            long_value = value
        else:
            text = str(value)
        double = _as_double(value)
    elif kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise _bad(var)
        text = str(value) if isinstance(value, Decimal) else str(Decimal(value))
        double = _as_double(value)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, float | int):
            raise _bad(var)
        number = float(value)
        if math.isfinite(number):
            double = number
        else:
            text = repr(number)  # SQLite turns NaN into NULL; keep it as text
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _bad(var)
        long_value = int(value)
    elif kind in ("date", "datetime"):
        if isinstance(value, datetime):
            value = _aware(value)
            text = value.isoformat()
            instant = value
        elif isinstance(value, date) and kind == "date":
            text = value.isoformat()
            instant = datetime.combine(value, time(), UTC)
        else:
            raise _bad(var)
    elif kind == "json":
        json_value = value
    elif kind == "null":
        raise _bad(var)
    else:
        raise ValueError(f"variable {var.name!r} has unknown type {kind!r}")
    long_text: str | None = None
    if text is not None and len(text) * 4 > INDEXED_TEXT_MAX_BYTES and (
        len(text.encode("utf-8")) > INDEXED_TEXT_MAX_BYTES
    ):
        text, long_text = None, text
    return text, long_text, long_value, double, instant, json_value


def decode(kind: str, columns: Sequence[Any]) -> Any:
    """The value of a variable of type ``kind`` from its columns, as :func:`encode` gives."""
    text, long_text, long_value, double, _instant, json_value = columns
    if text is None:
        text = long_text
    if kind == "string":
        return text
    if kind == "integer":
        if long_value is not None:
            return long_value
        return None if text is None else int(text)
    if kind == "boolean":
        return None if long_value is None else bool(long_value)
    if kind == "decimal":
        return None if text is None else Decimal(text)
    if kind == "float":
        if double is not None:
            return float(double)
        return None if text is None else float(text)
    if kind in ("datetime", "date"):
        if text is None:
            return None
        if kind == "date" and "T" not in text:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    if kind == "json":
        return json_value
    return None
