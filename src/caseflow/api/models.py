"""Shared pieces of the API's JSON: camelCase models, paging, the list envelope."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from caseflow.api.problems import ApiProblem

T = TypeVar("T")
MAX_PAGE_SIZE = 500


class CamelModel(BaseModel):
    """JSON in camelCase, Python in snake_case; both accepted on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PageOf(CamelModel, Generic[T]):
    """A list response: ``{"items": [...], "page": 0, "size": 50, "total": 123}``."""

    items: list[T]
    page: int
    size: int
    total: int | None = None


class Paging(CamelModel):
    page: int
    size: int
    sort: str | None = None

    @property
    def offset(self) -> int:
        return self.page * self.size

    def sort_by(self, allowed: set[str], default: str) -> tuple[str, bool]:
        """``(field, descending)`` from ``?sort=field,asc|desc``; 422 for other fields."""
        if not self.sort:
            return default, False
        name, _, direction = self.sort.partition(",")
        if name not in allowed or direction.lower() not in ("", "asc", "desc"):
            raise ApiProblem(
                422, f"sort by one of {', '.join(sorted(allowed))}, then ',asc' or ',desc'"
            )
        return name, direction.lower() == "desc"


def paging(
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    sort: Annotated[str | None, Query(max_length=100)] = None,
) -> Paging:
    """FastAPI dependency: ``?page=0&size=50&sort=field,asc``."""
    return Paging(page=page, size=size, sort=sort)


PagingParams = Annotated[Paging, Depends(paging)]
