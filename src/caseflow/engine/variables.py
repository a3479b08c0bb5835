"""Typed variables and their scopes.

A variable belongs to the instance (``scope_id`` None) or to one execution (a local
variable: input mappings, multi-instance loop variables, a subprocess's locals). Reading
walks from an execution up through its parents to the instance; writing updates the
nearest scope that already has the name, or else creates it on the instance, as Camunda
and Flowable do, so files written for them behave the same.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from caseflow.engine.state import Execution, InstanceState, Variable, VariableType
from caseflow.errors import ExecutionError

_JSON_SCALARS = (str, int, float, bool, Decimal, type(None))


def variable_type(value: Any) -> VariableType:
    """The stored type of a Python value; refuses what cannot be kept in a row."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dict | list | tuple):
        _check_json(value, 0)
        return "json"
    raise ExecutionError(f"a variable cannot hold a value of type {type(value).__name__}")


def _check_json(value: Any, depth: int) -> None:
    if depth > 64:
        raise ExecutionError("a JSON variable is nested more than 64 levels deep")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ExecutionError("JSON variable keys must be strings")
            _check_json(v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_json(v, depth + 1)
    elif not isinstance(value, _JSON_SCALARS):
        raise ExecutionError(f"a JSON variable cannot hold a value of type {type(value).__name__}")


def _detach(value: Any) -> Any:
    """Copy mutable values so two scopes never share one list or dict."""
    if isinstance(value, dict | list):
        return copy.deepcopy(value)
    if isinstance(value, tuple):
        return copy.deepcopy(list(value))
    return value


class VariableStore:
    """The variables of one instance, indexed by scope, then name."""

    __slots__ = ("_new_id", "_scopes", "_state")

    def __init__(self, state: InstanceState, new_id: Callable[[], str]) -> None:
        self._state = state
        self._new_id = new_id
        self._scopes: dict[str | None, dict[str, Variable]] = {}
        for var in state.variables.rows.values():  # no copy: nothing changes meanwhile
            self._scopes.setdefault(var.scope_id, {})[var.name] = var

    @property
    def state(self) -> InstanceState:
        return self._state

    def scope_chain(self, execution: Execution | None) -> list[str | None]:
        chain: list[str | None] = []
        executions = self._state.executions
        current = execution
        while current is not None:
            chain.append(current.id)
            current = executions.get(current.parent_id) if current.parent_id else None
        chain.append(None)
        return chain

    def find(self, execution: Execution | None, name: str) -> Variable | None:
        scopes = self._scopes
        executions = self._state.executions
        current = execution
        while current is not None:
            local = scopes.get(current.id)
            if local is not None:
                var = local.get(name)
                if var is not None:
                    return var
            current = executions.get(current.parent_id) if current.parent_id else None
        top = scopes.get(None)
        return top.get(name) if top is not None else None

    def get(self, execution: Execution | None, name: str, default: Any = None) -> Any:
        var = self.find(execution, name)
        return default if var is None else var.value

    def set(self, execution: Execution | None, name: str, value: Any) -> None:
        """Update the nearest scope that has ``name``; else create it on the instance."""
        var = self.find(execution, name)
        if var is None:
            self._create(None, name, value)
        else:
            self._update(var, value)

    def set_local(self, scope: Execution | None, name: str, value: Any) -> None:
        scope_id = scope.id if scope is not None else None
        var = self._scopes.get(scope_id, {}).get(name)
        if var is None:
            self._create(scope_id, name, value)
        else:
            self._update(var, value)

    def locals_of(self, scope_id: str | None) -> dict[str, Any]:
        return {name: v.value for name, v in self._scopes.get(scope_id, {}).items()}

    def clear_scope(self, scope_id: str) -> None:
        local = self._scopes.pop(scope_id, None)
        if local:
            for var in local.values():
                self._state.variables.remove(var)

    def visible(self, execution: Execution | None) -> dict[str, Any]:
        """Every variable ``execution`` can see, nearer scopes hiding farther ones."""
        result: dict[str, Any] = {}
        for scope_id in reversed(self.scope_chain(execution)):
            result.update(self.locals_of(scope_id))
        return result

    def _create(self, scope_id: str | None, name: str, value: Any) -> None:
        if not name:
            raise ExecutionError("a variable needs a name")
        var = Variable(
            id=self._new_id(),
            instance_id=self._state.instance.id,
            name=name,
            value=_detach(value),
            type=variable_type(value),
            scope_id=scope_id,
            tenant_id=self._state.instance.tenant_id,
        )
        self._state.variables.add(var)
        self._scopes.setdefault(scope_id, {})[name] = var

    def _update(self, var: Variable, value: Any) -> None:
        new_type = variable_type(value)
        if var.value is value and new_type == var.type and not isinstance(value, dict | list):
            return
        var.value = _detach(value)
        var.type = new_type
        self._state.variables.touch(var)


class ScopeView(Mapping[str, Any]):
    """What an expression sees from one execution: its variables plus ``extra`` names."""

    __slots__ = ("_execution", "_extra", "_store")

    def __init__(
        self,
        store: VariableStore,
        execution: Execution | None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._execution = execution
        self._extra = extra

    def __getitem__(self, name: str) -> Any:
        var = self._store.find(self._execution, name)
        if var is not None:
            return var.value
        if self._extra is not None and name in self._extra:
            return self._extra[name]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self._store.find(self._execution, name) is not None or (
            self._extra is not None and name in self._extra
        )

    def __iter__(self) -> Iterator[str]:
        names = set(self._store.visible(self._execution))
        if self._extra:
            names.update(self._extra)
        return iter(sorted(names))

    def __len__(self) -> int:
        return sum(1 for _ in self)
