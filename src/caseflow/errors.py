"""The one exception tree of caseflow.

Every error caseflow raises on purpose derives from :class:`CaseflowError`, so a caller
can catch "anything caseflow refused" in one place, and carries the context needed to
act on it (element id, line, expression, instance id) as attributes, not only in text.

    CaseflowError
    ├── DefinitionError              a BPMN/DMN document cannot be used
    │   ├── XmlError                 malformed or hostile XML (entities, DTD, network)
    │   └── ValidationFailed         parsed, but breaks rules the engine relies on
    ├── ExpressionError              an expression or script does not parse or fails to run
    │   ├── ExpressionSyntaxError
    │   ├── ExpressionEvaluationError
    │   └── ExpressionLimitExceeded  too large or too costly to evaluate
    ├── NotFound                     an unknown id or key (definition, instance, task, ...)
    ├── IllegalState                 a command that the current state does not allow
    │   └── InstanceNotActive        the instance is suspended or has ended
    ├── Forbidden                    the acting user's grants do not cover the operation now
    ├── ExecutionError               the process itself cannot go on (no outgoing flow, ...)
    │   └── StepLimitExceeded        a command ran more steps than allowed (runaway loop)
    └── ConcurrencyConflict          another transaction changed the same instance first;
                                     the runtime retries these, callers normally never see one
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class CaseflowError(Exception):
    """Base of every error caseflow raises on purpose."""

    code: str = "caseflow_error"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a document: what is wrong, where, and how bad."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    element_id: str | None = None
    line: int | None = None
    process_id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.element_id:
            where.append(f"element '{self.element_id}'")
        prefix = f"[{', '.join(where)}] " if where else ""
        return f"{self.severity}: {prefix}{self.message} ({self.code})"


class DefinitionError(CaseflowError):
    """A BPMN or DMN document cannot be used."""

    code = "definition_invalid"

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  {p}" for p in self.problems)


class XmlError(DefinitionError):
    """The document is not well-formed XML, or uses forbidden XML features."""

    code = "xml_invalid"


class ValidationFailed(DefinitionError):
    """The document parsed but breaks rules the engine relies on."""

    code = "validation_failed"


class ExpressionError(CaseflowError):
    """An expression or script failed; names the expression and the element."""

    code = "expression_error"

    def __init__(
        self,
        message: str,
        *,
        expression: str | None = None,
        element_id: str | None = None,
        position: int | None = None,
    ) -> None:
        self.message = message
        self.expression = expression
        self.element_id = element_id
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.expression is not None:
            shown = (
                self.expression if len(self.expression) <= 120 else self.expression[:117] + "..."
            )
            parts.append(f"in expression {shown!r}")
        if self.position is not None:
            parts.append(f"at offset {self.position}")
        if self.element_id:
            parts.append(f"of element '{self.element_id}'")
        return " ".join(parts)

    def at_element(self, element_id: str) -> ExpressionError:
        """Attach the element that owns the expression (keeps the concrete class)."""
        if self.element_id is None:
            self.element_id = element_id
            self.args = (self._render(),)
        return self


class ExpressionSyntaxError(ExpressionError):
    code = "expression_syntax"


class ExpressionEvaluationError(ExpressionError):
    code = "expression_evaluation"


class ExpressionLimitExceeded(ExpressionError):
    code = "expression_limit"


class NotFound(CaseflowError):
    """An id or key that names nothing."""

    code = "not_found"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} '{key}' not found")
        self.kind = kind
        self.key = key


class IllegalState(CaseflowError):
    """The command is not allowed in the current state; nothing was changed."""

    code = "illegal_state"


class InstanceNotActive(IllegalState):
    code = "instance_not_active"

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"process instance '{instance_id}' is {status}, not ACTIVE")
        self.instance_id = instance_id
        self.status = status


class Forbidden(CaseflowError):
    """The acting user may not do this: no valid grant covers it at this moment."""

    code = "forbidden"

    def __init__(self, message: str, *, user: str | None = None) -> None:
        super().__init__(message)
        self.user = user


class ExecutionError(CaseflowError):
    """The process cannot go on from where it is (a modelling or data problem)."""

    code = "execution_error"

    def __init__(self, message: str, *, element_id: str | None = None) -> None:
        super().__init__(message if element_id is None else f"{message} (element '{element_id}')")
        self.element_id = element_id


class StepLimitExceeded(ExecutionError):
    code = "step_limit"


class ConcurrencyConflict(CaseflowError):
    """Another transaction changed the same instance first (retried by the runtime)."""

    code = "concurrency_conflict"
