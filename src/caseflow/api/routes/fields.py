"""Field types of the human-work routes: text a database can store, refused early otherwise.

PostgreSQL refuses a NUL character in text and no database takes a lone UTF-16 surrogate
(which JSON can carry as ``"\\ud800"``); such input would fail deep in a statement as a 500.
These types refuse it at the edge as a 422: one-line names and ids allow no control
characters at all, free text allows line breaks and tabs, and JSON values (variables, form
data) are walked for strings of either kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, Field

ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
MAX_DEPTH = 32

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=ONE_LINE)]
Text = Annotated[str, Field(max_length=4000, pattern=FREE_TEXT)]
Key = Annotated[str, Path(min_length=1, max_length=255, pattern=ONE_LINE)]
"""An id or a code in a path."""


def storable(value: str) -> bool:
    """Whether a database can keep ``value`` as text."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        if not storable(value):
            raise ValueError("text holds a NUL character or a lone surrogate")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _walk(key, depth + 1)
            _walk(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, depth + 1)


def _checked_json(value: dict[str, Any]) -> dict[str, Any]:
    _walk(value)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_checked_json)]
"""A JSON object whose strings (keys included) can all be stored."""

__all__ = ["FREE_TEXT", "ONE_LINE", "JsonObject", "Key", "Name", "Text", "storable"]
