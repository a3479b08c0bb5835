"""BPMN 2.0 parsing, validation and the immutable process model.

definitions, problems = load_definitions(data, "order.bpmn")
report = ValidationReport(problems, resource_name="order.bpmn")
if not report.ok:
    print(report.render())
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from caseflow.errors import Problem, ValidationFailed
from caseflow.model.bpmn import ParseResult, parse_bpmn
from caseflow.model.elements import Definitions
from caseflow.model.validate import RULES, validate

__all__ = [
    "RULES",
    "ParseResult",
    "ValidationReport",
    "load_definitions",
    "parse_bpmn",
    "validate",
]


def load_definitions(
    source: bytes | str,
    resource_name: str | None = None,
    *,
    executable_only: bool = True,
) -> tuple[Definitions, list[Problem]]:
    """Parse and validate one BPMN document.

    Raises :class:`~caseflow.errors.XmlError` for malformed or hostile XML and
    :class:`~caseflow.errors.DefinitionError` for XML that is not BPMN; every other
    finding comes back as a problem (parse problems included, each once).
    """
    result = parse_bpmn(source, resource_name=resource_name)
    return result.definitions, validate(result.definitions, executable_only=executable_only)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Problems of one document, rendered for people (the CLI's ``validate``)."""

    problems: tuple[Problem, ...]
    resource_name: str | None = None

    def __init__(self, problems: Iterable[Problem], resource_name: str | None = None) -> None:
        object.__setattr__(self, "problems", tuple(problems))
        object.__setattr__(self, "resource_name", resource_name)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity != "error")

    @property
    def ok(self) -> bool:
        """True when nothing blocks a deployment (warnings allowed)."""
        return not self.errors

    def grouped(self) -> list[tuple[str | None, list[Problem]]]:
        """Problems per process (document-level ones first), each sorted by line."""
        groups: dict[str | None, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.process_id, []).append(problem)
        ordered = sorted(groups.items(), key=lambda item: (item[0] is not None, item[0] or ""))
        return [
            (
                process_id,
                sorted(
                    items,
                    key=lambda p: (
                        p.line if p.line is not None else 0,
                        p.severity != "error",
                        p.code,
                    ),
                ),
            )
            for process_id, items in ordered
        ]

    def render(self, *, warnings: bool = True) -> str:
        """Plain text, one problem a line, e.g. ``order.bpmn:12: error [unreachable] ...``."""
        name = self.resource_name or "<document>"
        lines: list[str] = []
        for process_id, items in self.grouped():
            shown: Sequence[Problem] = [p for p in items if warnings or p.severity == "error"]
            if not shown:
                continue
            lines.append(f"process '{process_id}':" if process_id else "document:")
            for p in shown:
                where = f"{name}:{p.line}" if p.line is not None else name
                element = f" ({p.element_id})" if p.element_id else ""
                lines.append(f"  {where}: {p.severity} [{p.code}]{element} {p.message}")
        errors, warns = len(self.errors), len(self.warnings)
        summary = f"{name}: {errors} error(s), {warns} warning(s)"
        lines.append(summary if lines else f"{summary} - ok")
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise :class:`~caseflow.errors.ValidationFailed` if there is any error."""
        if self.errors:
            name = f" {self.resource_name}" if self.resource_name else ""
            raise ValidationFailed(
                f"the BPMN document{name} has {len(self.errors)} error(s)", self.errors
            )
