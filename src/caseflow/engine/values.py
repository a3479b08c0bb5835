"""Turning model attributes into runtime values.

A BPMN attribute such as ``camunda:assignee`` or ``camunda:dueDate`` holds a literal or
an expression. These helpers evaluate it in an execution's scope and coerce the result
to what the field needs, with an error that names the element when it cannot.

:class:`ExecutionFacade` is the ``execution`` object that Camunda and Flowable
expressions use (``${execution.processBusinessKey}``, ``${execution.getVariable('x')}``),
read-only and limited to the members listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import isodate

from caseflow.engine.state import Execution, InstanceState
from caseflow.errors import ExecutionError, ExpressionError
from caseflow.expr import ContextObject

if TYPE_CHECKING:
    from caseflow.engine.variables import VariableStore


class ExecutionFacade(ContextObject):
    expression_members: ClassVar[frozenset[str]] = frozenset(
        {
            "getVariable",
            "hasVariable",
            "processBusinessKey",
            "businessKey",
            "processInstanceId",
            "processDefinitionId",
            "currentActivityId",
            "activityId",
            "id",
            "tenantId",
        }
    )

    def __init__(
        self, state: InstanceState, execution: Execution | None, store: VariableStore
    ) -> None:
        self._state = state
        self._execution = execution
        self._store = store

    def getVariable(self, name: str) -> Any:
        return self._store.get(self._execution, name)

    def hasVariable(self, name: str) -> bool:
        return self._store.find(self._execution, name) is not None

    @property
    def processBusinessKey(self) -> str | None:
        return self._state.instance.business_key

    businessKey = processBusinessKey

    @property
    def processInstanceId(self) -> str:
        return self._state.instance.id

    @property
    def processDefinitionId(self) -> str:
        return self._state.instance.definition_id

    @property
    def currentActivityId(self) -> str | None:
        return self._execution.element_id if self._execution else None

    activityId = currentActivityId

    @property
    def id(self) -> str:
        return self._execution.id if self._execution else self._state.instance.id

    @property
    def tenantId(self) -> str:
        return self._state.instance.tenant_id


def _value(value: Any, view: Mapping[str, Any], element_id: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    try:
        return value.evaluate(view)
    except ExpressionError as exc:
        raise exc.at_element(element_id) from None


def resolve_str(value: Any, view: Mapping[str, Any], element_id: str) -> str | None:
    result = _value(value, view, element_id)
    if result is None:
        return None
    return result if isinstance(result, str) else str(result)


def resolve_int(value: Any, view: Mapping[str, Any], element_id: str, *, default: int) -> int:
    result = _value(value, view, element_id)
    if result is None or result == "":
        return default
    if isinstance(result, bool):
        raise ExecutionError(f"expected a whole number, got {result!r}", element_id=element_id)
    if isinstance(result, int):
        return result
    if isinstance(result, Decimal | float) and result == int(result):
        return int(result)
    if isinstance(result, str):
        try:
            return int(result.strip())
        except ValueError:
            pass
    raise ExecutionError(f"expected a whole number, got {result!r}", element_id=element_id)


def resolve_datetime(
    value: Any, view: Mapping[str, Any], element_id: str, now: dt.datetime
) -> dt.datetime | None:
    """A date-time from a datetime, a date, ISO 8601 text, or a duration from ``now``."""
    result = _value(value, view, element_id)
    if result is None or result == "":
        return None
    if isinstance(result, dt.datetime):
        return result if result.tzinfo else result.replace(tzinfo=dt.UTC)
    if isinstance(result, dt.date):
        return dt.datetime(result.year, result.month, result.day, tzinfo=dt.UTC)
    if isinstance(result, str):
        text = result.strip()
        try:
            if text.startswith(("P", "-P")):
                due: dt.datetime = now + isodate.parse_duration(text)
                return due
            parsed: dt.datetime | None = isodate.parse_datetime(text) if "T" in text else None
            if parsed is None:
                day = isodate.parse_date(text)
                return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        except (isodate.ISO8601Error, ValueError):
            pass
    raise ExecutionError(
        f"expected a date-time, an ISO 8601 date or duration, got {result!r}",
        element_id=element_id,
    )
