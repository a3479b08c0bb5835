"""BPMN 2.0 parsing, validation and the immutable process model."""
