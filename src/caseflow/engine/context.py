"""What the pure core may ask of the world during one command.

The core never opens a connection or reads a clock. A command gets the time and an id
source as arguments, and a :class:`World` through which it reaches beyond the instance
it started on: the prepared model of a definition, the version a call activity calls,
and other instances (the parent a finished child must wake, the child a terminated
parent must stop). The runtime implements it over a storage transaction; tests can
implement it over dictionaries.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from caseflow.engine.compiled import ExecutableProcess
from caseflow.engine.state import InstanceState


@dataclass(frozen=True, slots=True)
class DefinitionRef:
    """Enough of a deployed definition to start an instance of it."""

    id: str
    key: str
    version: int
    tenant_id: str
    deployment_id: str | None = None


class World(abc.ABC):
    @abc.abstractmethod
    def executable(self, definition_id: str) -> ExecutableProcess:
        """The prepared model of a deployed definition."""

    @abc.abstractmethod
    def called_definition(
        self,
        key: str,
        *,
        binding: str,
        version: int | None,
        caller_definition_id: str,
        tenant_id: str,
    ) -> DefinitionRef:
        """The definition a call activity starts; raises NotFound if there is none."""

    @abc.abstractmethod
    def instance(self, instance_id: str) -> InstanceState:
        """Another instance, loaded into this unit of work (saved with it)."""

    @abc.abstractmethod
    def register(self, state: InstanceState) -> None:
        """A new instance the core created (a called process); saved with this unit."""
