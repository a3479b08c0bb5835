"""Variable values in typed columns, and JSON that keeps decimals exact."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from caseflow.engine.state import Variable
from caseflow.store import codec
from caseflow.store.schema import INDEXED_TEXT_MAX_BYTES


def _var(value: Any, type_: str) -> Variable:
    return Variable("v", "i", "x", value, type_)  # type: ignore[arg-type]


def test_each_type_has_its_query_column() -> None:
    stored = codec.encode(_var(Decimal("2.50"), "decimal"))
    assert (stored[0], stored[3]) == ("2.50", 2.5)
    assert codec.encode(_var(7, "integer"))[2:4] == (7, 7.0)
    assert codec.encode(_var(True, "boolean"))[2] == 1
    assert codec.encode(_var(date(2025, 1, 2), "date"))[4] == datetime(2025, 1, 2, tzinfo=UTC)
    assert codec.encode(_var({"a": 1}, "json"))[5] == {"a": 1}
    assert codec.encode(_var("x", "string"))[0] == "x"


def test_long_strings_leave_the_indexed_column() -> None:
    short = "a" * INDEXED_TEXT_MAX_BYTES
    assert codec.encode(_var(short, "string"))[:2] == (short, None)
    wide = "đ" * (INDEXED_TEXT_MAX_BYTES // 2 + 1)  # two bytes each in UTF-8
    assert codec.encode(_var(wide, "string"))[:2] == (None, wide)
    assert codec.decode("string", codec.encode(_var(wide, "string"))) == wide


def test_naive_datetimes_are_read_as_utc() -> None:
    stored = codec.encode(_var(datetime(2025, 1, 1, 12), "datetime"))  # noqa: DTZ001
    assert codec.decode("datetime", stored) == datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "type_"),
    [("1", "integer"), (True, "integer"), (1.5, "decimal"), (1, "boolean"), ("x", "date"),
     (date(2025, 1, 1), "datetime"), (1, "string"), (0, "null"), (1, "nonsense")],
)
def test_values_that_do_not_fit_their_type_are_refused(value: Any, type_: str) -> None:
    with pytest.raises(ValueError, match="variable 'x'"):
        codec.encode(_var(value, type_))


def test_non_finite_floats_survive() -> None:
    for value in (math.inf, -math.inf):
        assert codec.decode("float", codec.encode(_var(value, "float"))) == value
    assert math.isnan(codec.decode("float", codec.encode(_var(math.nan, "float"))))


def test_json_keeps_decimals_exact() -> None:
    doc = {"fee": Decimal("1.10"), "tiny": Decimal("-1E-30"), "n": [1, "đ", None, True]}
    text = codec.dumps_json(doc)
    assert text == '{"fee":1.10,"tiny":-0.000000000000000000000000000001,"n":[1,"đ",null,true]}'
    back = codec.loads_json(text)
    assert back == doc
    assert back["fee"].as_tuple() == Decimal("1.10").as_tuple()
    assert codec.loads_json(codec.dumps_json([0.5])) == [Decimal("0.5")]
    assert codec.dumps_json({"a": 1}) == '{"a": 1}'
    with pytest.raises(ValueError, match="JSON"):
        codec.dumps_json([Decimal("NaN")])
    with pytest.raises(ValueError, match="JSON"):
        codec.dumps_json([math.nan])
