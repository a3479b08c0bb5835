"""Assignment strategies: who gets a task, given who could take it. Pure functions.

The routing listener gathers the candidates (holders of a valid grant of a role that
works the queue, active, with their load, skills and experience) and asks
:func:`choose`; nobody at or above ``max_tasks`` is ever chosen.

* ``ROUND_ROBIN``: the next user id after the queue assignment's last choice, in order.
* ``LEAST_LOADED``: the fewest unfinished tasks assigned now.
* ``SKILL_BASED``: only users with every skill the queue asks for at its level and the
  experience it asks for; among them the least loaded, then the most skilled.
* ``PRIORITY_WEIGHTED``: the lightest load where each task weighs by its priority (the
  queue's ``priority_weights``), then the most experienced: urgent work spreads out and
  goes to the seniors first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from caseflow.work.model import Strategy

DEFAULT_PRIORITY_WEIGHTS: Mapping[str, float] = {"0": 1.0, "50": 2.0, "80": 4.0}
"""Weight of a task by priority when a queue names none: from 0, from 50, from 80 up."""


@dataclass(frozen=True, slots=True)
class Candidate:
    user_id: str
    load: int  # unfinished tasks assigned to the user now
    experience_level: int = 1
    skills: Mapping[str, int] = field(default_factory=dict)  # skill code -> level
    priorities: Sequence[int] = ()  # priorities of the tasks making up ``load``


@dataclass(frozen=True, slots=True)
class Demand:
    """What the task asks of whoever takes it."""

    priority: int = 50
    required_skills: Mapping[str, int] = field(default_factory=dict)  # code -> min level
    min_experience: int | None = None
    priority_weights: Mapping[str, float] | None = None


def priority_weight(priority: int, weights: Mapping[str, float] | None = None) -> float:
    """The weight of the highest threshold at or below ``priority`` (1.0 below them all)."""
    table = weights or DEFAULT_PRIORITY_WEIGHTS
    best: tuple[int, float] | None = None
    for threshold, weight in table.items():
        at = int(threshold)
        if at <= priority and (best is None or at > best[0]):
            best = (at, float(weight))
    return best[1] if best is not None else 1.0


def qualifies(candidate: Candidate, demand: Demand) -> bool:
    if demand.min_experience is not None and candidate.experience_level < demand.min_experience:
        return False
    return all(
        candidate.skills.get(code, 0) >= level for code, level in demand.required_skills.items()
    )


def _skill_score(candidate: Candidate, demand: Demand) -> int:
    return sum(candidate.skills.get(code, 0) for code in demand.required_skills)


def choose(
    strategy: Strategy,
    candidates: Sequence[Candidate],
    demand: Demand,
    *,
    max_tasks: int,
    last_assigned: str | None = None,
) -> str | None:
    """The user to assign, or ``None`` when nobody fits (all full, none qualified)."""
    pool = [c for c in candidates if c.load < max_tasks]
    if not pool:
        return None
    if strategy == "ROUND_ROBIN":
        ordered = sorted(c.user_id for c in pool)
        if last_assigned is None:
            return ordered[0]
        return next((u for u in ordered if u > last_assigned), ordered[0])
    if strategy == "LEAST_LOADED":
        return min(pool, key=lambda c: (c.load, c.user_id)).user_id
    if strategy == "SKILL_BASED":
        fit = [c for c in pool if qualifies(c, demand)]
        if not fit:
            return None
        return min(fit, key=lambda c: (c.load, -_skill_score(c, demand), c.user_id)).user_id
    if strategy == "PRIORITY_WEIGHTED":
        weights = demand.priority_weights

        def weighted(c: Candidate) -> float:
            return sum(priority_weight(p, weights) for p in c.priorities)

        return min(pool, key=lambda c: (weighted(c), -c.experience_level, c.user_id)).user_id
    raise ValueError(f"unknown assignment strategy {strategy!r}")


__all__ = [
    "DEFAULT_PRIORITY_WEIGHTS",
    "Candidate",
    "Demand",
    "choose",
    "priority_weight",
    "qualifies",
]
