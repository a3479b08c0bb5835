"""The demo organisation: who works where, on which queues, with which rights.

Two worlds side by side, as one caseflow often serves both: a provincial Department of
Planning and Investment (Sở Kế hoạch và Đầu tư) handling a public-service procedure, and
an enterprise case-routing operation (Intake, Claims, Legal, Finance). Role codes are what
the demo BPMN names as candidate groups; each role works the queue it is bound to.

Everything here is data; :func:`build_organisation` writes what is missing and leaves
what exists alone, so loading twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from caseflow.work import WorkService
from caseflow.work.escalation import Escalations
from caseflow.work.model import QueueType, RoleType, Strategy


@dataclass(frozen=True, slots=True)
class DemoDepartment:
    code: str
    name: str
    parent: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DemoQueue:
    name: str
    type: QueueType
    department: str
    sla_minutes: int
    max_capacity: int | None = None
    overflow: str | None = None
    description: str | None = None
    required_skills: dict[str, int] = field(default_factory=dict)
    priority_weights: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class DemoRole:
    code: str
    name: str
    type: RoleType
    department: str | None
    queue: str | None = None  # the queue the role is bound to
    can_manage: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DemoAssignment:
    queue: str
    role: str
    strategy: Strategy = "ROUND_ROBIN"
    auto_assign: bool = False
    max_tasks_per_user: int = 10
    priority_level: int = 50


@dataclass(frozen=True, slots=True)
class DemoGrant:
    role: str
    primary: bool = False
    # days relative to the demo's start (valid_from) and to now (valid_until)
    until_days_from_now: int | None = None


@dataclass(frozen=True, slots=True)
class DemoUser:
    id: str
    name: str
    department: str
    grants: tuple[DemoGrant, ...]
    experience: int = 2
    email: str | None = None
    skills: dict[str, int] = field(default_factory=dict)
    title: str = ""


DEPARTMENTS: tuple[DemoDepartment, ...] = (
    DemoDepartment("SKHDT", "Sở Kế hoạch và Đầu tư", description="Sở Kế hoạch và Đầu tư tỉnh"),
    DemoDepartment("MOTCUA", "Bộ phận Một cửa", "SKHDT",
                   "Tiếp nhận hồ sơ và trả kết quả giải quyết thủ tục hành chính"),
    DemoDepartment("DKKD", "Phòng Đăng ký kinh doanh", "SKHDT",
                   "Thẩm định hồ sơ đăng ký doanh nghiệp, hộ kinh doanh"),
    DemoDepartment("PHAPCHE", "Phòng Pháp chế", "SKHDT", "Kiểm tra tính pháp lý"),
    DemoDepartment("LANHDAO", "Lãnh đạo Sở", "SKHDT", "Giám đốc, Phó Giám đốc Sở"),
    DemoDepartment("OPS", "Case Operations", description="Enterprise case handling"),
    DemoDepartment("INTAKE", "Intake", "OPS", "Receives, checks and categorises cases"),
    DemoDepartment("CLAIMS", "Claims", "OPS", "Assesses claims"),
    DemoDepartment("LEGAL", "Legal", "OPS", "Legal matters and disputes"),
    DemoDepartment("FINANCE", "Finance", "OPS", "Billing disputes and payments"),
)

SKILLS: tuple[tuple[str, str], ...] = (
    ("luat-doanh-nghiep", "Luật Doanh nghiệp"),
    ("dang-ky-kinh-doanh", "Nghiệp vụ đăng ký kinh doanh"),
    ("insurance-claims", "Insurance claims"),
    ("contract-law", "Contract law"),
    ("accounting", "Accounting"),
    ("english", "English"),
)

# Overflow targets first: a queue names its overflow by name, which must exist.
QUEUES: tuple[DemoQueue, ...] = (
    DemoQueue("mot-cua", "STANDARD", "MOTCUA", 240, 40,
              description="Bộ phận Một cửa: tiếp nhận và trả kết quả"),
    DemoQueue("dkkd-tham-dinh", "SPECIALIZED", "DKKD", 480, 30,
              description="Thẩm định hồ sơ đăng ký kinh doanh",
              required_skills={"dang-ky-kinh-doanh": 2}),
    DemoQueue("phap-che", "SPECIALIZED", "PHAPCHE", 240, 20,
              description="Kiểm tra pháp chế", required_skills={"luat-doanh-nghiep": 3}),
    DemoQueue("lanh-dao-phe-duyet", "PRIORITY", "LANHDAO", 240, 30,
              description="Hồ sơ trình Lãnh đạo Sở phê duyệt",
              priority_weights={"70": 2.0, "0": 1.0}),
    DemoQueue("ops-overflow", "OVERFLOW", "OPS", 240,
              description="Overflow for intake when it is full; worked by intake and supervisors"),
    DemoQueue("intake", "STANDARD", "INTAKE", 120, 6, overflow="ops-overflow",
              description="New cases: check and categorise"),
    DemoQueue("claims", "STANDARD", "CLAIMS", 480, 25, description="Claims assessment"),
    DemoQueue("claims-priority", "PRIORITY", "CLAIMS", 240, 10,
              description="High-value claims (100 million VND and more)",
              priority_weights={"80": 3.0, "50": 1.5, "0": 1.0}),
    DemoQueue("legal", "SPECIALIZED", "LEGAL", 960, 15, description="Legal review",
              required_skills={"contract-law": 3}),
    DemoQueue("finance", "STANDARD", "FINANCE", 480, 20, description="Billing disputes"),
    DemoQueue("quality", "STANDARD", "OPS", 240, 20, description="Quality check before closing"),
    DemoQueue("escalations", "PRIORITY", "OPS", 60,
              description="Cases a day or more in a department: supervisor follow-up"),
)

ROLES: tuple[DemoRole, ...] = (
    DemoRole("MOTCUA_CANBO", "Cán bộ Bộ phận Một cửa", "DEPARTMENT", "MOTCUA", "mot-cua"),
    DemoRole("DKKD_CHUYENVIEN", "Chuyên viên Phòng Đăng ký kinh doanh", "DEPARTMENT", "DKKD",
             "dkkd-tham-dinh"),
    DemoRole("PHAPCHE_CHUYENVIEN", "Chuyên viên Phòng Pháp chế", "DEPARTMENT", "PHAPCHE",
             "phap-che"),
    DemoRole("LANHDAO_SO", "Lãnh đạo Sở", "DEPARTMENT", "LANHDAO", "lanh-dao-phe-duyet"),
    DemoRole("TRUONG_PHONG", "Trưởng phòng (giám sát)", "DEPARTMENT", "DKKD", can_manage=True,
             description="Giám sát hàng đợi của Sở: phân công lại, chuyển cấp, hạn xử lý"),
    DemoRole("INTAKE_AGENT", "Intake agent", "DEPARTMENT", "INTAKE", "intake"),
    DemoRole("CLAIMS_HANDLER", "Claims handler", "DEPARTMENT", "CLAIMS", "claims"),
    DemoRole("LEGAL_COUNSEL", "Legal counsel", "DEPARTMENT", "LEGAL", "legal"),
    DemoRole("FINANCE_OFFICER", "Finance officer", "DEPARTMENT", "FINANCE", "finance"),
    DemoRole("QA_REVIEWER", "Quality reviewer", "CUSTOM", "OPS", "quality"),
    DemoRole("CASE_SUPERVISOR", "Case supervisor", "DEPARTMENT", "OPS", "escalations",
             can_manage=True, description="Manages every enterprise queue"),
    # the API makes holders of ADMIN administrators and of OPERATOR operators
    DemoRole("ADMIN", "Administrator", "SYSTEM", None, can_manage=True,
             description="Administers caseflow: definitions, organisation, every queue"),
    DemoRole("OPERATOR", "Operator", "SYSTEM", None,
             description="Monitors instances: incidents, retries, suspend and resume"),
)

_SKHDT_QUEUES = ("mot-cua", "dkkd-tham-dinh", "phap-che", "lanh-dao-phe-duyet")
_OPS_QUEUES = (
    "intake", "ops-overflow", "claims", "claims-priority", "legal", "finance", "quality",
    "escalations",
)

ASSIGNMENTS: tuple[DemoAssignment, ...] = (
    DemoAssignment("lanh-dao-phe-duyet", "LANHDAO_SO", "PRIORITY_WEIGHTED", auto_assign=True,
                   max_tasks_per_user=20, priority_level=90),
    DemoAssignment("legal", "LEGAL_COUNSEL", "SKILL_BASED", auto_assign=True,
                   max_tasks_per_user=8, priority_level=80),
    DemoAssignment("claims-priority", "CLAIMS_HANDLER", "LEAST_LOADED", priority_level=70),
    DemoAssignment("ops-overflow", "INTAKE_AGENT", priority_level=40),
    *(DemoAssignment(q, "TRUONG_PHONG", priority_level=30) for q in _SKHDT_QUEUES),
    *(DemoAssignment(q, "CASE_SUPERVISOR", priority_level=30) for q in _OPS_QUEUES
      if q != "escalations"),
    *(DemoAssignment(q, "ADMIN", priority_level=10) for q in (*_SKHDT_QUEUES, *_OPS_QUEUES)),
)

@dataclass(frozen=True, slots=True)
class DemoPolicy:
    """An automatic escalation rule of a queue (see :mod:`caseflow.work.escalation`)."""

    queue: str
    trigger: str  # AT_RISK, BREACHED
    action: str = "NONE"
    target: str | None = None
    priority_step: int | None = 10
    repeat_minutes: int | None = None
    max_level: int = 3


POLICIES: tuple[DemoPolicy, ...] = (
    # late dossiers climb in priority every half day until someone takes them
    DemoPolicy("mot-cua", "BREACHED", repeat_minutes=240),
    DemoPolicy("dkkd-tham-dinh", "BREACHED", repeat_minutes=480, max_level=2),
    DemoPolicy("phap-che", "BREACHED", max_level=1),
    # new cases close to their SLA: supervisors may take them too
    DemoPolicy("intake", "AT_RISK", "ADD_CANDIDATES", "SUPERVISOR", max_level=1),
    DemoPolicy("claims", "BREACHED", repeat_minutes=480),
)

# Root departments whose queues count SLAs in the stored Vietnam calendar.
CALENDAR_DEPARTMENTS: tuple[str, ...] = ("SKHDT", "OPS")

# (name, queue, process key, element id, condition, priority)
ROUTING_RULES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("High-value claims to the priority queue", "claims-priority", "case_routing",
     "claims_assessment", "${amount >= 100000000}", 80),
)

USERS: tuple[DemoUser, ...] = (
    # Sở Kế hoạch và Đầu tư
    DemoUser("an.nguyen", "Nguyễn Văn An", "MOTCUA", (DemoGrant("MOTCUA_CANBO", True),), 3,
             "an.nguyen@skhdt.example.vn", title="Cán bộ Một cửa"),
    DemoUser("binh.tran", "Trần Thị Bình", "MOTCUA", (DemoGrant("MOTCUA_CANBO", True),), 2,
             "binh.tran@skhdt.example.vn", title="Cán bộ Một cửa"),
    DemoUser("cuong.le", "Lê Văn Cường", "DKKD", (DemoGrant("DKKD_CHUYENVIEN", True),), 3,
             "cuong.le@skhdt.example.vn", {"dang-ky-kinh-doanh": 4, "luat-doanh-nghiep": 3},
             "Chuyên viên ĐKKD"),
    DemoUser("dung.pham", "Phạm Thị Dung", "DKKD",
             (DemoGrant("DKKD_CHUYENVIEN", True),
              # covering Pháp chế during a colleague's leave: ends in two weeks
              DemoGrant("PHAPCHE_CHUYENVIEN", until_days_from_now=14)), 2,
             "dung.pham@skhdt.example.vn", {"dang-ky-kinh-doanh": 3, "luat-doanh-nghiep": 3},
             "Chuyên viên ĐKKD"),
    DemoUser("giang.hoang", "Hoàng Thu Giang", "PHAPCHE",
             (DemoGrant("PHAPCHE_CHUYENVIEN", True),), 4, "giang.hoang@skhdt.example.vn",
             {"luat-doanh-nghiep": 5}, "Chuyên viên Pháp chế"),
    DemoUser("hai.vu", "Vũ Minh Hải", "LANHDAO", (DemoGrant("LANHDAO_SO", True),), 4,
             "hai.vu@skhdt.example.vn", title="Phó Giám đốc Sở"),
    DemoUser("khanh.do", "Đỗ Quốc Khánh", "DKKD",
             (DemoGrant("TRUONG_PHONG", True), DemoGrant("DKKD_CHUYENVIEN")), 4,
             "khanh.do@skhdt.example.vn", {"dang-ky-kinh-doanh": 5}, "Trưởng phòng ĐKKD"),
    # Case operations
    DemoUser("lan.ngo", "Ngô Thị Lan", "INTAKE", (DemoGrant("INTAKE_AGENT", True),), 2,
             "lan.ngo@ops.example.com", {"english": 4}, "Intake agent"),
    DemoUser("minh.dang", "Đặng Văn Minh", "INTAKE",
             (DemoGrant("INTAKE_AGENT", True),
              # a temporary reinforcement of Claims, until the end of the quarter
              DemoGrant("CLAIMS_HANDLER", until_days_from_now=30)), 1,
             "minh.dang@ops.example.com", {"insurance-claims": 2}, "Intake agent"),
    DemoUser("nam.bui", "Bùi Hoàng Nam", "CLAIMS",
             (DemoGrant("CLAIMS_HANDLER", True), DemoGrant("QA_REVIEWER")), 3,
             "nam.bui@ops.example.com", {"insurance-claims": 4}, "Claims handler"),
    DemoUser("oanh.ly", "Lý Kim Oanh", "CLAIMS", (DemoGrant("CLAIMS_HANDLER", True),), 2,
             "oanh.ly@ops.example.com", {"insurance-claims": 3, "english": 3}, "Claims handler"),
    DemoUser("phuc.truong", "Trương Văn Phúc", "LEGAL", (DemoGrant("LEGAL_COUNSEL", True),), 4,
             "phuc.truong@ops.example.com", {"contract-law": 5}, "Legal counsel"),
    DemoUser("quynh.dinh", "Đinh Như Quỳnh", "LEGAL", (DemoGrant("LEGAL_COUNSEL", True),), 2,
             "quynh.dinh@ops.example.com", {"contract-law": 3}, "Legal counsel"),
    DemoUser("son.mai", "Mai Thanh Sơn", "FINANCE",
             (DemoGrant("FINANCE_OFFICER", True), DemoGrant("QA_REVIEWER")), 3,
             "son.mai@ops.example.com", {"accounting": 4}, "Finance officer"),
    DemoUser("supervisor", "Trịnh Thu Hà", "OPS",
             (DemoGrant("CASE_SUPERVISOR", True), DemoGrant("TRUONG_PHONG"),
              DemoGrant("QA_REVIEWER"), DemoGrant("OPERATOR")), 4,
             "supervisor@ops.example.com", title="Supervisor (all queues)"),
    DemoUser("admin", "Quản trị hệ thống", "OPS", (DemoGrant("ADMIN", True),), 4,
             "admin@caseflow.example", title="Administrator"),
)


LOGINS: tuple[str, ...] = (
    "an.nguyen", "binh.tran", "cuong.le", "giang.hoang", "hai.vu", "khanh.do",
    "lan.ngo", "nam.bui", "phuc.truong", "son.mai", "supervisor", "admin",
)
"""The users worth logging in as, for a development-mode login page to offer."""


@dataclass(slots=True)
class OrganisationCounts:
    departments: int = 0
    users: int = 0
    roles: int = 0
    grants: int = 0
    skills: int = 0
    queues: int = 0
    assignments: int = 0
    routing_rules: int = 0
    policies: int = 0


def build_organisation(
    work: WorkService, escalations: Escalations, *, since: datetime, now: datetime
) -> OrganisationCounts:
    """Create what is missing; grants start at ``since`` (the demo's history begins there).

    An entity that exists (by code, id or name) is left as it is, with what hangs on it:
    an existing user gets no new grants, an existing queue no new assignments or
    escalation policies.
    """
    made = OrganisationCounts()
    existing_departments = {d.code for d in work.departments()}
    for dept in DEPARTMENTS:
        if dept.code not in existing_departments:
            work.create_department(dept.code, dept.name, parent=dept.parent,
                                   description=dept.description)
            made.departments += 1
    existing_skills = _existing_skills(work)
    for code, name in SKILLS:
        if code not in existing_skills:
            work.create_skill(code, name)
            made.skills += 1
    existing_queues = {q.name for q in work.queues()}
    new_queues: set[str] = set()
    for queue in QUEUES:
        if queue.name in existing_queues:
            continue
        work.create_queue(
            queue.name, type=queue.type, department=queue.department,
            max_capacity=queue.max_capacity, sla_minutes=queue.sla_minutes,
            overflow=queue.overflow, description=queue.description,
            required_skills=queue.required_skills or None,
            priority_weights=queue.priority_weights,
        )
        new_queues.add(queue.name)
        made.queues += 1
    existing_roles = {r.code for r in work.roles()}
    for role in ROLES:
        if role.code not in existing_roles:
            work.create_role(role.code, role.name, type=role.type, department=role.department,
                             queue=role.queue, can_manage=role.can_manage,
                             description=role.description)
            made.roles += 1
    for a in ASSIGNMENTS:
        if a.queue in new_queues:
            work.assign_queue(a.queue, a.role, strategy=a.strategy, auto_assign=a.auto_assign,
                              max_tasks_per_user=a.max_tasks_per_user,
                              priority_level=a.priority_level)
            made.assignments += 1
    for policy in POLICIES:
        if policy.queue in new_queues:
            escalations.set_policy(
                policy.queue, policy.trigger, action=policy.action, target=policy.target,
                priority_step=policy.priority_step, repeat_minutes=policy.repeat_minutes,
                max_level=policy.max_level,
            )
            made.policies += 1
    existing_rules = {r.name for r in work.routing_rules()}
    for name, queue_name, process_key, element_id, condition, priority in ROUTING_RULES:
        if name not in existing_rules:
            work.add_routing_rule(name, queue_name, process_key=process_key,
                                  element_id=element_id, condition=condition,
                                  priority=priority)
            made.routing_rules += 1
    for user in USERS:
        if _exists(work, user.id):
            continue
        work.create_user(user.id, user.name, department=user.department,
                         experience_level=user.experience, email=user.email)
        made.users += 1
        for grant in user.grants:
            until = (
                now + timedelta(days=grant.until_days_from_now)
                if grant.until_days_from_now is not None else None
            )
            work.grant(user.id, grant.role, by="admin", valid_from=since, valid_until=until,
                       primary=grant.primary)
            made.grants += 1
        for skill, level in user.skills.items():
            work.set_user_skill(user.id, skill, level)
    return made


def _exists(work: WorkService, user_id: str) -> bool:
    from caseflow.errors import NotFound

    try:
        work.user(user_id)
    except NotFound:
        return False
    return True


def _existing_skills(work: WorkService) -> set[str]:
    """Skill codes already there (the service lists no skills; read the table)."""
    from sqlalchemy import select

    from caseflow.store import schema

    table = schema.work_skill
    with work.store.transaction(read_only=True) as tx:
        rows = tx.conn.execute(
            select(table.c.code).where(table.c.tenant_id == work.tenant_id)
        ).all()
    return {str(r.code) for r in rows}
