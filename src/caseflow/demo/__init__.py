"""caseflow.demo: a living example for the first minute.

``load_demo(engine, work)`` fills a SQLite or PostgreSQL store with an example
organisation (a Vietnamese Sở Kế hoạch và Đầu tư and an enterprise case operation:
departments, users, roles with time-bounded grants, skills, queues of every type with
SLAs, capacities, strategies and an overflow queue; the Vietnam business calendar), two
processes with their forms (the public-service procedure "Đăng ký thành lập hộ kinh
doanh" and a multi-department case-routing process), and about thirty cases at every
stage, some past their SLA, some claimed, some finished, one incident. Safe to call on
every start: it loads nothing twice.

Log in as (the users' ids): ``an.nguyen`` / ``lan.ngo`` (case workers), ``supervisor``
(manages every queue), ``admin`` (administrator).
"""

from caseflow.demo.loader import DemoSummary, load_demo, load_demo_services
from caseflow.demo.resources import (
    bpmn_resources,
    definition_metadata,
    demo_form,
    demo_resources,
    form_resources,
)

__all__ = [
    "DemoSummary",
    "bpmn_resources",
    "definition_metadata",
    "demo_form",
    "demo_resources",
    "form_resources",
    "load_demo",
    "load_demo_services",
]
