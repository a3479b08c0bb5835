"""Camunda's typed values and dates, converted both ways (no server needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from caseflow.api.camunda.errors import CamundaError
from caseflow.api.camunda.values import (
    format_date,
    from_camunda,
    from_typed,
    parse_date,
    to_typed,
)


def test_dates_in_camundas_format_in_utc() -> None:
    moment = dt.datetime(2026, 1, 31, 16, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    assert format_date(moment) == "2026-01-31T09:30:05.123+0000"
    assert format_date(dt.date(2026, 1, 31)) == "2026-01-31T00:00:00.000+0000"
    assert format_date(None) is None
    for text in ("2026-01-31T09:30:05.123+0000", "2026-01-31T09:30:05.123Z",
                 "2026-01-31T16:30:05.123+07:00", "2026-01-31T09:30:05.123"):
        assert parse_date(text, "d") == dt.datetime(2026, 1, 31, 9, 30, 5, 123000, tzinfo=dt.UTC)
    for bad in ("", "31/01/2026", 5, None):
        with pytest.raises(CamundaError) as refused:
            parse_date(bad, "due")
        assert refused.value.status == 400 and "due" in refused.value.message


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ({"value": "a", "type": "String"}, "a"),
        ({"value": 5, "type": "integer"}, 5),
        ({"value": "5", "type": "Integer"}, 5),
        ({"value": 5.0, "type": "Integer"}, 5),
        ({"value": -(2**15), "type": "Short"}, -(2**15)),
        ({"value": 2**63 - 1, "type": "Long"}, 2**63 - 1),
        ({"value": 1, "type": "Double"}, 1.0),
        ({"value": "2.5", "type": "DOUBLE"}, 2.5),
        ({"value": "false", "type": "Boolean"}, False),
        ({"value": None, "type": "String"}, None),
        ({"value": "anything", "type": "Null"}, None),
        ({"value": '{"a": [1]}', "type": "Json"}, {"a": [1]}),
        ({"value": {"a": 1}, "type": "Json"}, {"a": 1}),
        ({"value": "[1]", "type": "Object",
          "valueInfo": {"serializationDataFormat": "application/json"}}, [1]),
        ({"value": [1, {"b": None}]}, [1, {"b": None}]),
        ({"value": True}, True),
    ],
)
def test_typed_values_in(typed: dict[str, Any], value: Any) -> None:
    assert from_typed("v", typed) == value


@pytest.mark.parametrize(
    "typed",
    [
        {"value": 2**31, "type": "Integer"},
        {"value": 2**15, "type": "Short"},
        {"value": 2**63, "type": "Long"},
        {"value": True, "type": "Integer"},
        {"value": "1.5", "type": "Long"},
        {"value": "NaN", "type": "Double"},
        {"value": "yes", "type": "Boolean"},
        {"value": 5, "type": "String"},
        {"value": "{", "type": "Json"},
        {"value": "x", "type": "Object", "valueInfo": {"serializationDataFormat": "java"}},
        {"value": "AAAA", "type": "Bytes"},
        {"value": "<a/>", "type": "Xml"},
        {"value": 1, "type": 7},
        "plain",
    ],
)
def test_bad_typed_values_are_400s_naming_the_variable(typed: Any) -> None:
    with pytest.raises(CamundaError) as refused:
        from_typed("amount", typed)
    assert refused.value.status == 400
    assert "amount" in refused.value.message


def test_maps_of_variables() -> None:
    assert from_camunda(None) == {}
    assert from_camunda({"a": {"value": 1}}) == {"a": 1}
    for bad in ([1], {"": {"value": 1}}, "x"):
        with pytest.raises(CamundaError):
            from_camunda(bad)


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        (None, ("Null", None)),
        (True, ("Boolean", True)),
        (7, ("Integer", 7)),
        (2**40, ("Long", 2**40)),
        (1.5, ("Double", 1.5)),
        (Decimal("2.25"), ("Double", 2.25)),
        ("x", ("String", "x")),
        (dt.datetime(2026, 1, 31, 9, 30, tzinfo=dt.UTC), ("Date", "2026-01-31T09:30:00.000+0000")),
        ({"a": [1, "b"]}, ("Json", '{"a": [1, "b"]}')),
        (["ế"], ("Json", '["ế"]')),
    ],
)
def test_typed_values_out(value: Any, typed: tuple[str, Any]) -> None:
    out = to_typed(value)
    assert (out["type"], out["value"]) == typed
    assert out["valueInfo"] == {}
