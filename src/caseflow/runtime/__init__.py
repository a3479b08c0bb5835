"""The runtime: commands run against storage, one command one transaction."""

from caseflow.runtime.process_engine import (
    DefinitionMetadata,
    DeploymentResult,
    InstanceView,
    LockedExternalTask,
    MessageNotCorrelated,
    MessagePublished,
    ProcessEngine,
)

__all__ = [
    "DefinitionMetadata",
    "DeploymentResult",
    "InstanceView",
    "LockedExternalTask",
    "MessageNotCorrelated",
    "MessagePublished",
    "ProcessEngine",
]
