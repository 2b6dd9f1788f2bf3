"""What partner facilities owe the home hospital for consultations: the monthly statement per partner facility.

Each request carries the fee agreed between the facilities (copied from the ``Tariff`` in force when it was
sent, in fen). A statement lists the requests of one partner facility whose report was signed in one calendar
month, local time (Asia/Shanghai): reported or acknowledged requests only, a cancelled one never (it was
cancelled before any report). An inter-hospital billing document minimises what it says about the patient: the
request number, the day of the report, urgency, kind of consultation, specialty and fee; no name.

Coordinators and administrators read statements; every read (and CSV export) is audited.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.core import audit
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.directory.models import Facility, FacilityKind

from .models import ConsultRequest, Mode, Status, Urgency

READERS = (Role.COORDINATOR, Role.ADMIN)
BILLED = (Status.REPORTED, Status.ACKNOWLEDGED)


@dataclass
class StatementRow:
    request_id: int
    number: str
    reported_on: date  # local day the report was signed
    urgency: str
    urgency_label: str
    mode: str
    mode_label: str
    department: str
    fee_fen: int


@dataclass
class Statement:
    facility: Facility
    month: date  # the first day of the month
    starts_at: datetime  # [starts_at, ends_at): the month in local time, aware
    ends_at: datetime
    rows: list[StatementRow] = field(default_factory=list)
    total_fen: int = 0
    count: int = 0
    # Subtotals by (urgency, mode): [{"urgency", "urgency_label", "mode", "mode_label", "count", "total_fen"}].
    subtotals: list[dict] = field(default_factory=list)

    @property
    def period(self) -> str:
        return f"{self.month:%Y-%m}"


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals ("1234.50"), exact (no float)."""
    fen = int(fen or 0)
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _require_reader(actor: User) -> None:
    if not getattr(actor, "is_authenticated", False) or actor.role not in READERS:
        raise Forbidden("not_statement_reader",
                        _("Only consultation coordinators and administrators read the statements."))


def partner_facilities() -> QuerySet[Facility]:
    """The partner facilities that may send requests (those a statement is made for)."""
    return Facility.objects.filter(kind=FacilityKind.PARTNER).order_by("code")


def month_of(value) -> date:
    """The first day of the month of a date, or of a "YYYY-MM" string; ``invalid_month`` otherwise."""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, date):
        return value.replace(day=1)
    match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})(?:-\d{1,2})?\s*", str(value or ""))
    if match and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 2000:
        return date(int(match.group(1)), int(match.group(2)), 1)
    raise DomainError("invalid_month", _("Give the month as YYYY-MM."), fields={"month": _("e.g. 2026-11")})


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The month in local time as aware datetimes [start, end)."""
    start = month.replace(day=1)
    following = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    tz = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(start, time.min), tz),
            timezone.make_aware(datetime.combine(following, time.min), tz))


def billed_requests(facility: Facility, month: date) -> QuerySet[ConsultRequest]:
    starts_at, ends_at = month_bounds(month)
    return (ConsultRequest.objects.filter(referring_facility=facility, status__in=BILLED,
                                          reported_at__gte=starts_at, reported_at__lt=ends_at)
            .select_related("department").order_by("reported_at", "pk"))


def _build(facility: Facility, month: date) -> Statement:
    starts_at, ends_at = month_bounds(month)
    statement = Statement(facility=facility, month=month, starts_at=starts_at, ends_at=ends_at)
    urgencies, modes = dict(Urgency.choices), dict(Mode.choices)
    subtotals: dict[tuple[str, str], dict] = {}
    for request in billed_requests(facility, month):
        fee = int(request.fee_fen or 0)
        row = StatementRow(
            request_id=request.pk, number=request.number,
            reported_on=timezone.localtime(request.reported_at).date(),
            urgency=request.urgency, urgency_label=str(urgencies.get(request.urgency, request.urgency)),
            mode=request.mode, mode_label=str(modes.get(request.mode, request.mode)),
            department=request.department.name if request.department_id else "",
            fee_fen=fee,
        )
        statement.rows.append(row)
        statement.total_fen += fee
        sub = subtotals.setdefault((row.urgency, row.mode), {
            "urgency": row.urgency, "urgency_label": row.urgency_label, "mode": row.mode,
            "mode_label": row.mode_label, "count": 0, "total_fen": 0})
        sub["count"] += 1
        sub["total_fen"] += fee
    statement.count = len(statement.rows)
    order = {u: i for i, u in enumerate(Urgency.values)}
    statement.subtotals = sorted(subtotals.values(), key=lambda s: (order.get(s["urgency"], 9), s["mode"]))
    return statement


def _facility(facility_id) -> Facility:
    try:
        facility = Facility.objects.filter(pk=int(facility_id)).first()
    except (TypeError, ValueError):
        facility = None
    if facility is None:
        raise NotFound()
    if facility.kind != FacilityKind.PARTNER:
        raise DomainError("not_partner_facility", _("Statements are made for partner facilities only."),
                          fields={"facility": _("not a partner facility")})
    return facility


def statement(*, actor: User, facility_id: int, month) -> Statement:
    """The month's statement of one partner facility (``month``: any day of it, or "YYYY-MM")."""
    _require_reader(actor)
    month = month_of(month)
    facility = _facility(facility_id)
    result = _build(facility, month)
    audit.record(actor=actor, action=AuditAction.READ, obj=facility,
                 detail={"statement": result.period, "count": result.count, "total_fen": result.total_fen})
    return result


def statement_csv(*, actor: User, facility_id: int, month) -> str:
    """The statement as CSV (UTF-8 text; a download may prefix a BOM for spreadsheet programs): one row per
    request, then the total. Fees in yuan with two decimals; the fen column is exact."""
    _require_reader(actor)
    month = month_of(month)
    facility = _facility(facility_id)
    result = _build(facility, month)
    audit.record(actor=actor, action=AuditAction.EXPORT, obj=facility,
                 detail={"statement": result.period, "count": result.count, "total_fen": result.total_fen,
                         "format": "csv"})
    return to_csv(result)


def to_csv(result: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([gettext("Partner facility"), result.facility.name, gettext("Month"), result.period])
    writer.writerow([gettext("Consultation"), gettext("Report signed"), gettext("Urgency"),
                     gettext("Kind of consultation"), gettext("Specialty"), gettext("Fee (yuan)"),
                     gettext("Fee (fen)")])
    for row in result.rows:
        writer.writerow([row.number, row.reported_on.isoformat(), row.urgency_label, row.mode_label,
                         row.department, yuan(row.fee_fen), row.fee_fen])
    writer.writerow([gettext("Total"), ngettext("%(count)s consultation", "%(count)s consultations", result.count)
                     % {"count": result.count}, "", "", "",
                     yuan(result.total_fen), result.total_fen])
    return out.getvalue()
