"""The demo's cases: stories played on the real engine, on a clock set in the past.

Each :class:`Story` is one case: when it started and what people did to it, step by step,
with the working time each step took. :func:`play` merges every story's actions into one
timeline, sets a :class:`~caseflow.clock.ManualClock` to each action's moment and runs it
through the engine and the human-work service (claims, completions with outcomes, the
external identity check, a message from the customer), firing due timers as time passes.
A step that would happen after now is not played: the case waits there, so cases end up
at every stage, some long past their SLA, some just in, some finished.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from caseflow.clock import ManualClock
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskQuery, TopicRequest
from caseflow.time.calendar import BusinessCalendar
from caseflow.time.jobs import JobExecutor
from caseflow.work import WorkService

HOUSEHOLD = "dang_ky_ho_kinh_doanh"
CASE_ROUTING = "case_routing"
IDENTITY_TOPIC = "verify-identity"
DEMO_WORKER = "demo-identity-service"

Action = Literal[
    "complete", "claim", "verify", "fail_verify", "message", "due", "comment", "escalate",
    "delegate",
]


@dataclass(frozen=True, slots=True)
class Step:
    """Something done ``hours`` of working time after the previous step (``minutes`` of
    clock time for a fresh case)."""

    action: Action
    element: str = ""  # the user task acted on (complete, claim)
    user: str | None = None  # None: whoever holds the task
    outcome: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    hours: float = 1.0
    message: str = ""
    due_in_minutes: int = 0  # "due": the new due date, counted from the demo's now
    text: str = ""  # comment, escalate: the comment
    to: str | None = None  # delegate: the delegate; escalate: the queue


@dataclass(frozen=True, slots=True)
class Story:
    process_key: str
    business_key: str
    variables: Mapping[str, Any]
    steps: tuple[Step, ...]
    days_ago: int = 0  # working days before today; 0: a fresh case, minutes ago
    start_hour: float = 8.5  # local time of day it arrived (days_ago > 0)
    minutes_ago: int = 30  # fresh cases: how long ago it arrived
    started_by: str | None = None


# ------------------------------------------------------------------ the household procedure


def _household(
    name: str, owner: str, id_no: str, trade: str, address: str, capital: int
) -> dict[str, Any]:
    return {
        "tenHoKinhDoanh": name, "hoTenChuHo": owner, "soDinhDanh": id_no,
        "nganhNghe": trade, "diaChiKinhDoanh": address, "vonKinhDoanh": Decimal(capital),
        "kenhNop": "Cổng Dịch vụ công quốc gia",
    }


_ACCEPT = Step("complete", "tiep_nhan", "an.nguyen", "accept",
               {"giayDeNghi": True, "banSaoGiayTo": True}, 0.5)
_VERIFY = Step("verify", hours=0.1)
_REVIEW = Step("complete", "tham_dinh", "cuong.le", "forward",
               {"yKienThamDinh": "Hồ sơ hợp lệ, đủ điều kiện cấp Giấy chứng nhận."}, 3)
_LEGAL_OK = Step("complete", "kiem_tra_phap_che", "giang.hoang", "approve",
                 {"yKienPhapChe": "Không có vướng mắc pháp lý."}, 2)
_APPROVE = Step("complete", "phe_duyet", None, "approve", {}, 2)
_HAND_OVER = Step("complete", "tra_ket_qua", "binh.tran", "complete",
                  {"hinhThucTraKetQua": "truc_tiep"}, 1.5)
_HAPPY = (_ACCEPT, _VERIFY, _REVIEW, _LEGAL_OK, _APPROVE, _HAND_OVER)


def household_stories() -> list[Story]:
    h = _household
    return [
        # done: certificate issued, and one refused
        Story(HOUSEHOLD, "HKD-2611-0001", h("Tạp hóa Minh Anh", "Nguyễn Thị Minh Anh",
              "001186012345", "Bán lẻ hàng tạp hóa", "12 Trần Phú, Ba Đình, Hà Nội", 50_000_000),
              _HAPPY, days_ago=9),
        Story(HOUSEHOLD, "HKD-2611-0002", h("Phở Gia Truyền Bát Đàn", "Trần Văn Hùng",
              "001079004567", "Dịch vụ ăn uống", "49 Bát Đàn, Hoàn Kiếm, Hà Nội", 120_000_000),
              _HAPPY, days_ago=8, start_hour=10),
        Story(HOUSEHOLD, "HKD-2611-0003", h("Karaoke Ánh Sao", "Lê Thị Hoa", "001190007788",
              "Kinh doanh dịch vụ karaoke", "8 Ngõ Huế, Hai Bà Trưng, Hà Nội", 300_000_000),
              (_ACCEPT, _VERIFY,
               Step("complete", "tham_dinh", "dung.pham", "forward",
                    {"yKienThamDinh": "Địa điểm không bảo đảm điều kiện phòng cháy chữa cháy."}, 4),
               _LEGAL_OK, Step("complete", "phe_duyet", None, "reject",
                               {"lyDoTuChoi": "Chưa đáp ứng điều kiện về PCCC."}, 3),
               Step("complete", "thong_bao_tu_choi", "binh.tran", "complete",
                    {"hinhThucTraKetQua": "buu_chinh"}, 1)),
              days_ago=7),
        # returned to the citizen for more documents, supplemented, then on its way
        Story(HOUSEHOLD, "HKD-2611-0004", h("Sửa xe Tuấn Phát", "Phạm Minh Tuấn",
              "001085002233", "Sửa chữa mô tô, xe máy", "101 Kim Mã, Ba Đình, Hà Nội", 30_000_000),
              (Step("complete", "tiep_nhan", "binh.tran", "return",
                    {"ghiChuTiepNhan": "Thiếu bản sao giấy tờ pháp lý của chủ hộ."}, 0.5),
               Step("message", message="HoSoBoSung", variables={"banSaoGiayTo": True}, hours=9),
               _ACCEPT, _VERIFY, _REVIEW),
              days_ago=6),
        # waiting for the citizen's documents
        Story(HOUSEHOLD, "HKD-2611-0005", h("Tiệm may Hồng Nhung", "Đỗ Hồng Nhung",
              "001192003344", "May trang phục", "22 Hàng Bông, Hoàn Kiếm, Hà Nội", 20_000_000),
              (Step("complete", "tiep_nhan", "an.nguyen", "return",
                    {"ghiChuTiepNhan": "Giấy đề nghị chưa có chữ ký của chủ hộ."}, 1),),
              days_ago=2),
        # the national population database did not answer: an incident for an operator
        Story(HOUSEHOLD, "HKD-2611-0006", h("Cà phê Góc Phố", "Vũ Đức Long", "001088009911",
              "Dịch vụ đồ uống", "5 Lý Quốc Sư, Hoàn Kiếm, Hà Nội", 80_000_000),
              (_ACCEPT, Step("fail_verify", hours=0.1)), days_ago=3),
        # long past its SLA at the specialist review (breached), claimed but untouched
        Story(HOUSEHOLD, "HKD-2611-0007", h("Nhà thuốc An Khang", "Bùi Thị Thu", "001187005566",
              "Bán lẻ thuốc", "77 Giảng Võ, Đống Đa, Hà Nội", 150_000_000),
              (_ACCEPT, _VERIFY, Step("claim", "tham_dinh", "dung.pham", hours=1),
               Step("comment", "tham_dinh", "dung.pham", hours=2,
                    text="Đang chờ Phòng Y tế xác nhận điều kiện kinh doanh dược."),
               Step("comment", "tham_dinh", "khanh.do", hours=8,
                    text="Hồ sơ đã quá hạn, đề nghị chị Dung xử lý trong ngày.")),
              days_ago=5),
        Story(HOUSEHOLD, "HKD-2611-0008", h("Điện máy Thành Công", "Ngô Văn Thành",
              "001080006677", "Bán lẻ đồ điện gia dụng", "3 Chùa Bộc, Đống Đa, Hà Nội",
              500_000_000),
              (_ACCEPT, _VERIFY,
               Step("escalate", "tham_dinh", "khanh.do", hours=9,
                    text="Quá hạn thẩm định: chuyển Trưởng phòng theo dõi.")), days_ago=4),
        # sent back by Pháp chế to the specialist
        Story(HOUSEHOLD, "HKD-2611-0009", h("Quán bia Hơi Hà Nội", "Đặng Quang Vinh",
              "001083001122", "Dịch vụ ăn uống", "18 Tạ Hiện, Hoàn Kiếm, Hà Nội", 60_000_000),
              (_ACCEPT, _VERIFY, _REVIEW,
               Step("complete", "kiem_tra_phap_che", "giang.hoang", "return",
                    {"yKienPhapChe": "Ngành nghề cần ghi theo mã ngành cấp 4."}, 2)),
              days_ago=3),
        # waiting for leadership (auto-assigned to the Phó Giám đốc)
        Story(HOUSEHOLD, "HKD-2611-0010", h("Nông sản sạch Mộc Châu", "Hà Thị Mai",
              "001191008899", "Bán lẻ thực phẩm", "60 Nguyễn Chí Thanh, Đống Đa, Hà Nội",
              40_000_000),
              (_ACCEPT, _VERIFY, _REVIEW, _LEGAL_OK), days_ago=2),
        Story(HOUSEHOLD, "HKD-2611-0011", h("Tiệm bánh Hương Xưa", "Lý Thanh Hương",
              "001193004455", "Sản xuất bánh", "9 Hàng Than, Ba Đình, Hà Nội", 70_000_000),
              (_ACCEPT, _VERIFY, _REVIEW), days_ago=1),
        # approved, the certificate waits at the desk
        Story(HOUSEHOLD, "HKD-2611-0012", h("Văn phòng phẩm Trí Đức", "Trịnh Trí Đức",
              "001084007788", "Bán lẻ văn phòng phẩm", "14 Xã Đàn, Đống Đa, Hà Nội", 35_000_000),
              _HAPPY[:5], days_ago=2, start_hour=9),
        # just in from the portal
        Story(HOUSEHOLD, "HKD-2611-0013", h("Gốm sứ Bát Tràng Xanh", "Nguyễn Văn Khoa",
              "001082003399", "Bán lẻ đồ gốm", "Thôn 3, Bát Tràng, Gia Lâm, Hà Nội", 90_000_000),
              (), minutes_ago=25),
        Story(HOUSEHOLD, "HKD-2611-0014", h("Tiệm hoa Lan Chi", "Phan Lan Chi", "001195006611",
              "Bán lẻ hoa tươi", "31 Hàng Lược, Hoàn Kiếm, Hà Nội", 15_000_000),
              (), minutes_ago=8),
        Story(HOUSEHOLD, "HKD-2611-0016", h("Dịch vụ vận tải Phương Nam", "Lương Văn Nam",
              "001081005544", "Vận tải hàng hóa bằng ô tô", "88 Giải Phóng, Hai Bà Trưng, Hà Nội",
              400_000_000),
              (_ACCEPT, Step("fail_verify", hours=0.1)), days_ago=1, start_hour=14),
        # a priority dossier: the head of unit shortened its deadline (due within the hour)
        Story(HOUSEHOLD, "HKD-2611-0017", h("Thuốc nam Bảo An", "Tạ Thị Bảo", "001189002211",
              "Bán lẻ dược liệu", "45 Lãn Ông, Hoàn Kiếm, Hà Nội", 25_000_000),
              (Step("due", "tiep_nhan", "supervisor", due_in_minutes=50, hours=2),),
              minutes_ago=40),
        Story(HOUSEHOLD, "HKD-2611-0015", h("Cơ khí Hòa Bình", "Quách Văn Bình", "001077002288",
              "Gia công cơ khí", "Khu công nghiệp Phú Nghĩa, Chương Mỹ, Hà Nội", 250_000_000),
              (Step("claim", "tiep_nhan", "binh.tran", hours=5),), minutes_ago=60),
    ]


# ------------------------------------------------------------------ enterprise case routing


def _case(customer: str, description: str, channel: str = "email") -> dict[str, Any]:
    return {"customerName": customer, "description": description, "channel": channel}


def _intake(category: str, amount: int, user: str = "lan.ngo", hours: float = 1) -> Step:
    return Step("complete", "intake_review", user, "forward",
                {"category": category, "amount": Decimal(amount)}, hours)


def _work(element: str, user: str | None, hours: float, note: str,
          outcome: str = "complete") -> Step:
    return Step("complete", element, user, outcome, {"assessment": note}, hours)


_QC_OK = Step("complete", "quality_check", "nam.bui", "approve", {"qualityNote": "OK"}, 2)
_CLOSE = Step("complete", "close_case", "minh.dang", "complete",
              {"resolution": "Customer informed of the decision."}, 1)


def case_routing_stories() -> list[Story]:
    c = _case
    return [
        # closed cases
        Story(CASE_ROUTING, "CASE-2026-0101",
              c("Công ty TNHH Sao Việt", "Water damage claim, warehouse"),
              (_intake("claim", 45_000_000),
               _work("claims_assessment", "oanh.ly", 4, "Covered, pay 45m."),
               _QC_OK, _CLOSE), days_ago=8),
        Story(CASE_ROUTING, "CASE-2026-0102", c("Nguyễn Hữu Phước", "Invoice charged twice"),
              (_intake("billing", 2_400_000, "minh.dang"), _work("finance_review", "son.mai", 2,
               "Refund the duplicate charge."), Step("complete", "quality_check", "supervisor",
               "approve", {}, 1), _CLOSE), days_ago=7),
        Story(CASE_ROUTING, "CASE-2026-0103",
              c("Hanoi Logistics JSC", "Contract termination dispute"),
              (_intake("legal", 800_000_000), _work("legal_review", None, 10, "Termination valid."),
               Step("complete", "quality_check", "son.mai", "reject",
                    {"qualityNote": "Cite the clause."}, 2),
               _work("legal_review", None, 3, "Termination valid under clause 14.2."),
               _QC_OK, _CLOSE), days_ago=9),
        # claims waiting for the customer's documents (a message will continue them)
        Story(CASE_ROUTING, "CASE-2026-0104", c("Trần Thị Lụa", "Motorbike theft claim", "portal"),
              (_intake("claim", 28_000_000), _work("claims_assessment", "nam.bui", 2,
               "Police report missing.", "request_info")), days_ago=3),
        Story(CASE_ROUTING, "CASE-2026-0105", c("Minh Long Ceramics", "Broken shipment claim"),
              (_intake("claim", 64_000_000), _work("claims_assessment", "oanh.ly", 3,
               "Need photos of the damage.", "request_info"),
               Step("message", message="CustomerDocuments", variables={"documentsReceived": True},
                    hours=6),
               Step("claim", "claims_assessment", "oanh.ly", hours=1)), days_ago=4),
        # high-value claims in the priority queue, one long overdue (escalated by the timer)
        Story(CASE_ROUTING, "CASE-2026-0106",
              c("Tập đoàn Hòa Phát Land", "Fire damage, site office"),
              (_intake("claim", 1_250_000_000),
               Step("comment", "claims_assessment", "supervisor", hours=4,
                    text="High value: the loss adjuster's report is expected on Friday.")),
              days_ago=5),
        Story(CASE_ROUTING, "CASE-2026-0107", c("Viet Seafood Export", "Cold-chain failure claim"),
              (_intake("claim", 430_000_000, "minh.dang"),
               Step("claim", "claims_assessment", "nam.bui", hours=2)), days_ago=2),
        # ordinary claims at various ages
        Story(CASE_ROUTING, "CASE-2026-0108", c("Lê Văn Tâm", "Windscreen replacement", "phone"),
              (_intake("claim", 6_500_000),), days_ago=1),
        Story(CASE_ROUTING, "CASE-2026-0109", c("Phạm Gia Bảo", "Laptop water damage", "portal"),
              (_intake("claim", 18_000_000, hours=0.5),), days_ago=4),
        # legal and finance
        Story(CASE_ROUTING, "CASE-2026-0110", c("Sunrise Trading Co.", "Supplier contract breach"),
              (_intake("legal", 220_000_000),
               Step("delegate", "legal_review", None, hours=3, to="quynh.dinh",
                    text="Please draft the notice letter; I will review it.")), days_ago=2),
        Story(CASE_ROUTING, "CASE-2026-0111",
              c("Đoàn Thị Yến", "Late-payment fee dispute", "phone"),
              (_intake("billing", 1_200_000), Step("claim", "finance_review", "son.mai", hours=1)),
              days_ago=1),
        Story(CASE_ROUTING, "CASE-2026-0112", c("Green Farm Cooperative", "Premium refund request"),
              (_intake("billing", 9_800_000, "minh.dang"),), days_ago=6),
        # at quality check, and one ready to close
        Story(CASE_ROUTING, "CASE-2026-0113", c("Hoàng Minh Đức", "Phone screen claim", "portal"),
              (_intake("claim", 4_000_000), _work("claims_assessment", "oanh.ly", 2, "Covered.")),
              days_ago=2),
        Story(CASE_ROUTING, "CASE-2026-0114", c("Blue Ocean Travel", "Booking refund dispute"),
              (_intake("billing", 15_500_000), _work("finance_review", "son.mai", 3, "Refund 50%."),
               _QC_OK), days_ago=3),
        # just arrived: more than the intake queue holds, the rest overflows
        *(Story(CASE_ROUTING, f"CASE-2026-01{15 + i}", c(name, what, channel), (), minutes_ago=m)
          for i, (name, what, channel, m) in enumerate([
              ("Công ty CP Thép Việt", "Equipment breakdown claim", "email", 95),
              ("Nguyễn Thu Trang", "Travel insurance claim", "portal", 70),
              ("Saigon Print House", "Invoice amount disputed", "email", 55),
              ("Trương Quốc Việt", "Car accident claim", "phone", 40),
              ("Mekong Agri JSC", "Warehouse lease dispute", "email", 30),
              ("Võ Thị Hạnh", "Hospital bill claim", "portal", 20),
              ("Delta Pharma", "Shipment insurance claim", "email", 12),
              ("Lâm Gia Huy", "Duplicate direct debit", "phone", 5),
          ])),
        Story(CASE_ROUTING, "CASE-2026-0124", c("Kim Long Motors", "Fleet damage claim, urgent"),
              (Step("due", "intake_review", "supervisor", due_in_minutes=90, hours=1),),
              minutes_ago=35),
        Story(CASE_ROUTING, "CASE-2026-0123", c("Thành Đạt Builders", "Site accident liability"),
              (Step("claim", "intake_review", "lan.ngo", hours=2),), minutes_ago=150),
    ]


def stories() -> list[Story]:
    return household_stories() + case_routing_stories()


# ------------------------------------------------------------------ playing them


@dataclass(slots=True)
class Played:
    started: int = 0
    actions: int = 0
    skipped: int = 0  # steps later than now: the case waits there


def _arrival(story: Story, now: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
    if story.days_ago <= 0:
        return now - dt.timedelta(minutes=story.minutes_ago)
    zone = calendar.zone
    day = now.astimezone(zone).date()
    counted = 0
    while counted < story.days_ago:
        day -= dt.timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    hour = int(story.start_hour)
    minute = round((story.start_hour - hour) * 60)
    local = dt.datetime.combine(day, dt.time(hour, minute), zone)
    return calendar.next_working_time(local.astimezone(dt.UTC))


def earliest_arrival(
    all_stories: list[Story], now: dt.datetime, calendar: BusinessCalendar
) -> dt.datetime:
    """When the oldest story's case arrives (working days reach further back after Tết)."""
    return min(_arrival(story, now, calendar) for story in all_stories)


def _timeline(
    all_stories: list[Story], now: dt.datetime, calendar: BusinessCalendar, played: Played
) -> list[tuple[dt.datetime, int, int]]:
    """(when, story index, step index; -1 = start) for every action not after now."""
    events: list[tuple[dt.datetime, int, int]] = []
    latest = now - dt.timedelta(minutes=1)
    for index, story in enumerate(all_stories):
        at = _arrival(story, now, calendar)
        events.append((at, index, -1))
        for number, step in enumerate(story.steps):
            if story.days_ago <= 0:
                at = at + dt.timedelta(minutes=max(1.0, step.hours * 10))
            else:
                at = calendar.add(at, dt.timedelta(hours=step.hours))
            if at > latest:
                played.skipped += len(story.steps) - number
                break
            events.append((at, index, number))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events


def play(
    engine: ProcessEngine,
    work: WorkService,
    clock: ManualClock,
    calendar: BusinessCalendar,
    now: dt.datetime,
    all_stories: list[Story],
    *,
    register: Callable[[JobExecutor], None] | None = None,
) -> Played:
    """Play ``all_stories`` on ``engine`` (whose clock is ``clock``) up to ``now``.

    Due jobs (timers; with ``register``, whatever else it adds, such as SLA checks) run
    as the clock passes them.
    """
    played = Played()
    instances: dict[int, str] = {}
    timers = JobExecutor(engine, node_id="caseflow-demo", max_workers=1, batch_size=64)
    if register is not None:
        register(timers)
    last = None
    for at, index, number in _timeline(all_stories, now, calendar, played):
        if last is not None and at <= last:  # one moment, one action: history stays ordered
            at = last + dt.timedelta(seconds=1)
        last = at
        clock.set(at)
        timers.run_until_idle()
        story = all_stories[index]
        if number < 0:
            record = engine.start(
                story.process_key, business_key=story.business_key,
                case_id=story.business_key if story.process_key == CASE_ROUTING else None,
                variables=dict(story.variables), started_by=story.started_by,
                tenant_id=work.tenant_id,
            )
            instances[index] = record.id
            played.started += 1
        else:
            _act(engine, work, instances[index], story, story.steps[number], now)
            played.actions += 1
    clock.set(now)
    timers.run_until_idle()
    return played


def _act(engine: ProcessEngine, work: WorkService, instance_id: str, story: Story,
         step: Step, now: dt.datetime) -> None:
    if step.action == "message":
        engine.correlate_message(
            step.message, business_key=story.business_key, variables=dict(step.variables),
            tenant_id=work.tenant_id,
        )
        return
    if step.action in ("verify", "fail_verify"):
        _identity_check(engine, instance_id, ok=step.action == "verify")
        return
    tasks = engine.tasks(TaskQuery(instance_id=instance_id, element_id=step.element))
    if not tasks:
        raise LookupError(
            f"demo case {story.business_key}: no open task '{step.element}' to {step.action}"
        )
    task = tasks[0]
    if step.action == "due":
        work.set_due_date(step.user or "supervisor", task.id,
                          now + dt.timedelta(minutes=step.due_in_minutes))
        return
    if step.action == "comment":
        work.comment(step.user or task.assignee or "supervisor", task.id, step.text)
        return
    if step.action == "escalate":
        work.escalate(step.user or "supervisor", task.id, comment=step.text, to_queue=step.to)
        return
    user = task.assignee or step.user
    if user is None:
        raise LookupError(f"demo case {story.business_key}: nobody to act on '{step.element}'")
    if task.assignee is None:
        work.claim(user, task.id)
    if step.action == "complete":
        work.complete(user, task.id, dict(step.variables), outcome=step.outcome)
    elif step.action == "delegate" and step.to is not None:
        work.delegate(user, task.id, step.to, comment=step.text or None)


def _identity_check(engine: ProcessEngine, instance_id: str, *, ok: bool) -> None:
    """Act as the national population database's connector for one case."""
    locked = engine.fetch_and_lock(
        DEMO_WORKER, [TopicRequest(IDENTITY_TOPIC, lock_duration_ms=60_000)], max_tasks=100
    )
    mine = [t for t in locked if t.task.instance_id == instance_id]
    if not mine:
        raise LookupError(f"no identity check waits for instance '{instance_id}'")
    for other in locked:
        if other.task.instance_id != instance_id:  # not this case's: let it go at once
            engine.extend_lock(other.task.id, DEMO_WORKER, 1)
    task_id = mine[0].task.id
    if ok:
        engine.complete_external_task(task_id, DEMO_WORKER, {"identityVerified": True})
    else:
        engine.handle_failure(
            task_id, DEMO_WORKER,
            error_message="CSDL quốc gia về dân cư không phản hồi (timeout sau 30 giây)",
            retries=0, retry_timeout_ms=0,
        )
