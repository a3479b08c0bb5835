"""The assignment strategies are pure: candidates and a demand in, a user id out."""

from __future__ import annotations

import pytest

from caseflow.work.strategies import Candidate, Demand, choose, priority_weight, qualifies


def c(user: str, load: int = 0, **kw: object) -> Candidate:
    return Candidate(user_id=user, load=load, **kw)  # type: ignore[arg-type]


def test_round_robin_takes_the_next_user_after_the_last_and_wraps() -> None:
    pool = [c("lan"), c("binh"), c("chi")]
    assert choose("ROUND_ROBIN", pool, Demand(), max_tasks=5) == "binh"
    assert choose("ROUND_ROBIN", pool, Demand(), max_tasks=5, last_assigned="binh") == "chi"
    assert choose("ROUND_ROBIN", pool, Demand(), max_tasks=5, last_assigned="chi") == "lan"
    assert choose("ROUND_ROBIN", pool, Demand(), max_tasks=5, last_assigned="lan") == "binh"
    # a user who left the pool: the next one after where they stood
    assert choose("ROUND_ROBIN", pool, Demand(), max_tasks=5, last_assigned="bao") == "binh"


def test_least_loaded_takes_the_fewest_tasks_then_the_id() -> None:
    pool = [c("lan", 3), c("binh", 1), c("chi", 1)]
    assert choose("LEAST_LOADED", pool, Demand(), max_tasks=5) == "binh"


def test_nobody_at_max_tasks_is_ever_chosen() -> None:
    pool = [c("lan", 2), c("binh", 2)]
    for strategy in ("ROUND_ROBIN", "LEAST_LOADED", "SKILL_BASED", "PRIORITY_WEIGHTED"):
        assert choose(strategy, pool, Demand(), max_tasks=2) is None  # type: ignore[arg-type]
    assert choose("ROUND_ROBIN", [c("lan", 2), c("binh", 1)], Demand(), max_tasks=2,
                  last_assigned="binh") == "binh"


def test_skill_based_needs_every_skill_and_the_experience() -> None:
    demand = Demand(required_skills={"law": 3, "vi": 2}, min_experience=2)
    expert = c("lan", 4, experience_level=4, skills={"law": 5, "vi": 3})
    fit = c("binh", 1, experience_level=2, skills={"law": 3, "vi": 2})
    junior = c("chi", 0, experience_level=1, skills={"law": 5, "vi": 5})
    lacking = c("dung", 0, experience_level=3, skills={"law": 5})
    assert qualifies(fit, demand) and not qualifies(junior, demand)
    assert not qualifies(lacking, demand)
    assert choose("SKILL_BASED", [expert, fit, junior, lacking], demand, max_tasks=9) == "binh"
    # equally loaded: the more skilled
    assert choose("SKILL_BASED", [c("a", 1, experience_level=2, skills={"law": 3, "vi": 2}),
                                  c("b", 1, experience_level=2, skills={"law": 4, "vi": 2})],
                  demand, max_tasks=9) == "b"
    assert choose("SKILL_BASED", [junior, lacking], demand, max_tasks=9) is None


def test_priority_weighted_counts_urgent_work_heavier_then_prefers_seniors() -> None:
    weights = {"0": 1, "50": 2, "80": 5}
    assert priority_weight(10, weights) == 1
    assert priority_weight(50, weights) == 2
    assert priority_weight(99, weights) == 5
    assert priority_weight(-5, weights) == 1.0
    busy = c("lan", 1, priorities=[90])  # one urgent task: weight 5
    many = c("binh", 3, priorities=[10, 10, 10])  # three routine ones: weight 3
    assert choose("PRIORITY_WEIGHTED", [busy, many], Demand(priority_weights=weights),
                  max_tasks=9) == "binh"
    senior = c("chi", 0, experience_level=4)
    junior = c("dung", 0, experience_level=1)
    assert choose("PRIORITY_WEIGHTED", [junior, senior], Demand(), max_tasks=9) == "chi"


def test_an_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown"):
        choose("RANDOM", [c("lan")], Demand(), max_tasks=1)  # type: ignore[arg-type]
