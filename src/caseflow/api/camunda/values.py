"""Camunda's typed variables and dates, converted both ways.

Camunda clients send ``{"name": {"value": ..., "type": "Integer", "valueInfo": {...}}}``
(the type in any letter case; the Python client often leaves it out) and expect the same
back. caseflow keeps plain typed values, so a variable becomes its Python value on the way
in and gets the Camunda type of that value on the way out: str String, bool Boolean, int
Integer (Long beyond 32 bits), float and Decimal Double, None Null, dict/list Json (its
value a JSON string, as Camunda's Spin gives it), datetime and date Date.

Dates travel in Camunda's ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` (``2026-01-31T09:30:00.000+0000``);
ISO 8601 with ``Z`` or ``+hh:mm`` is accepted too, and a date without an offset is taken
as UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from caseflow.api.camunda.errors import invalid

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
SHORT_MIN, SHORT_MAX = -(2**15), 2**15 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
JSON_FORMAT = "application/json"


# ------------------------------------------------------------------ dates


def format_date(value: dt.datetime | dt.date | None) -> str | None:
    """Camunda's date text, in UTC: ``2026-01-31T09:30:00.000+0000``."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_date(text: Any, what: str) -> dt.datetime:
    """A date in Camunda's format or ISO 8601; refused with a 400 when it is neither."""
    if not isinstance(text, str) or not text.strip():
        raise invalid(f"{what}: expected a date like 2026-01-31T09:30:00.000+0000")
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise invalid(
            f"{what}: cannot parse date '{text}' (expected yyyy-MM-dd'T'HH:mm:ss.SSSZ)"
        ) from error
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


# ------------------------------------------------------------------ from Camunda


def _integer(value: Any, name: str, low: int, high: int, kind: str) -> int:
    if isinstance(value, bool):
        raise invalid(f"variable '{name}': {kind} needs a number, not a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as error:
            raise invalid(f"variable '{name}': '{value}' is not an {kind}") from error
    if not isinstance(value, int):
        raise invalid(f"variable '{name}': {value!r} is not an {kind}")
    if not low <= value <= high:
        raise invalid(f"variable '{name}': {value} is out of range for {kind}")
    return value


def _double(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise invalid(f"variable '{name}': Double needs a number, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as error:
            raise invalid(f"variable '{name}': '{value}' is not a Double") from error
    if not isinstance(value, int | float):
        raise invalid(f"variable '{name}': {value!r} is not a Double")
    result = float(value)
    if not math.isfinite(result):
        raise invalid(f"variable '{name}': a Double must be finite")
    return result


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid(f"variable '{name}': {value!r} is not a Boolean")


def _json_text(value: Any, name: str, kind: str) -> Any:
    if not isinstance(value, str):
        return value  # already structured
    try:
        return json.loads(value)
    except ValueError as error:
        raise invalid(f"variable '{name}': the {kind} value is not valid JSON") from error


def _inferred(value: Any, name: str) -> Any:
    """An untyped ``{"value": ...}``: the JSON value as it is."""
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(f"variable '{name}': numbers must be finite")
    return value


def from_typed(name: str, typed: Any) -> Any:
    """The Python value of one Camunda typed value."""
    if not isinstance(typed, Mapping):
        raise invalid(f"variable '{name}': expected an object with 'value' and 'type'")
    value = typed.get("value")
    kind = typed.get("type")
    if kind is None:
        return _inferred(value, name)
    if not isinstance(kind, str):
        raise invalid(f"variable '{name}': 'type' must be a string")
    lowered = kind.strip().lower()
    if lowered == "null" or (value is None and lowered != "json"):
        return None
    if lowered == "string":
        if not isinstance(value, str):
            raise invalid(f"variable '{name}': String needs a string value")
        return value
    if lowered == "integer":
        return _integer(value, name, INT_MIN, INT_MAX, "Integer")
    if lowered == "short":
        return _integer(value, name, SHORT_MIN, SHORT_MAX, "Short")
    if lowered == "long":
        return _integer(value, name, LONG_MIN, LONG_MAX, "Long")
    if lowered == "double":
        return _double(value, name)
    if lowered == "boolean":
        return _boolean(value, name)
    if lowered == "date":
        return parse_date(value, f"variable '{name}'")
    if lowered == "json":
        return _json_text(value, name, "Json")
    if lowered == "object":
        info = typed.get("valueInfo") or {}
        data_format = info.get("serializationDataFormat") if isinstance(info, Mapping) else None
        if data_format not in (None, JSON_FORMAT):
            raise invalid(
                f"variable '{name}': Object values are accepted serialized as {JSON_FORMAT}"
                f" only, not {data_format}"
            )
        return _json_text(value, name, "Object")
    raise invalid(
        f"variable '{name}': type '{kind}' is not supported (String, Integer, Short, Long, "
        "Double, Boolean, Date, Json, Object as application/json, Null)"
    )


def from_camunda(variables: Any, what: str = "variables") -> dict[str, Any]:
    """Python values of a Camunda variables map (``None`` is an empty map)."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise invalid(f"{what} must be an object of typed values")
    result = {}
    for name, typed in variables.items():
        if not isinstance(name, str) or not name:
            raise invalid(f"{what}: variable names must be non-empty strings")
        result[name] = from_typed(name, typed)
    return result


# ------------------------------------------------------------------ to Camunda


def to_typed(value: Any) -> dict[str, Any]:
    """One Camunda typed value of a Python value."""
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        kind = "Integer" if INT_MIN <= value <= INT_MAX else "Long"
        return {"type": kind, "value": value, "valueInfo": {}}
    if isinstance(value, float | Decimal):
        return {"type": "Double", "value": float(value), "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    if isinstance(value, dt.date):
        return {"type": "Date", "value": format_date(value), "valueInfo": {}}
    return {
        "type": "Json",
        "value": json.dumps(value, default=str, ensure_ascii=False),
        "valueInfo": {},
    }


def to_camunda(variables: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: to_typed(value) for name, value in sorted(variables.items())}
