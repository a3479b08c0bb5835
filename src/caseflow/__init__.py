"""caseflow: a BPMN 2.0 workflow and case-routing engine whose state lives in rows."""

__version__ = "0.1.0"
