"""Lab results: a technician records an order's values (typed in, or imported from HL7 or CSV), each flagged against
the patient's reference range; the ordering doctor signs them off, which releases them to the patient.

A correction of a resulted order is a new version of each corrected value; the earlier one stays. Recording is
all-or-nothing: one bad value refuses the whole entry.

Critical values (``LL``/``HH``) alert the ordering doctor at once, through ``notifications.services.notify``, which
stores the notification and pushes it live to the doctor's ``user.<id>`` group after commit. The doctor must act, so
the title names the analyte and its flag (e.g. "Critical value: Potassium HH, order DX…"); the value itself is never
put in a notification (notifications may show on a lock screen) — the link opens the result page. Critical results are
never released automatically: the doctor must sign them off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import ProxyStatus, Role
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.notifications.services import notify

from .flags import CRITICAL_FLAGS, flag
from .models import Analyte, DiagnosticKind, DiagnosticOrder, Flag, Observation, OrderStatus

MAX_ABS_VALUE = Decimal("1e8")  # Observation.value has 12 digits, 4 after the point
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class Entry:
    """One checked value, ready to be stored."""

    analyte: Analyte
    value: Decimal | None
    text: str
    unit: str
    observed_at: datetime


def result_link(order: DiagnosticOrder) -> str:
    return f"/diagnostics/orders/{order.pk}/"


def parse_decimal(raw) -> Decimal:
    """A finite decimal from a number or its text; ``invalid_value`` otherwise (NaN, infinity, junk, too large)."""
    if isinstance(raw, bool) or raw is None:
        raise DomainError("invalid_value", _("This is not a number."))
    try:
        number = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise DomainError("invalid_value", _("This is not a number.")) from None
    if not number.is_finite() or abs(number) >= MAX_ABS_VALUE:
        raise DomainError("invalid_value", _("This is not a number."))
    return number.quantize(Decimal("0.0001"))


def analytes_of(order: DiagnosticOrder) -> dict[str, Analyte]:
    """The order's analytes by code, and by LOINC code too (imports may name either)."""
    analytes = list(order.test.analytes.prefetch_related("ranges"))
    index = {a.loinc: a for a in analytes if a.loinc}
    index.update({a.code: a for a in analytes})
    return index


def parse_entry(analytes: dict[str, Analyte], item: dict, *, now: datetime | None = None) -> Entry:
    """Check one ``{"analyte", "value", "text", "unit", "observed_at"}``; raise a ``DomainError`` naming the problem."""
    now = now or timezone.now()
    code = str(item.get("analyte") or "").strip()
    analyte = analytes.get(code)
    if analyte is None:
        raise DomainError("unknown_analyte", _("%(analyte)s is not part of this test.") % {"analyte": code or "?"})
    raw, text = item.get("value"), str(item.get("text") or "").strip()
    value = None if raw is None or (isinstance(raw, str) and not raw.strip()) else parse_decimal(raw)
    if value is None and not text:
        raise DomainError("missing_value", _("%(analyte)s has no value.") % {"analyte": analyte.code})
    if len(text) > 200:
        raise DomainError("invalid_value", _("The text of %(analyte)s is too long.") % {"analyte": analyte.code})
    unit = str(item.get("unit") or "").strip()
    if unit and analyte.unit and unit != analyte.unit:
        raise DomainError("unit_mismatch", _("%(analyte)s is reported in %(expected)s, not %(unit)s.") % {
            "analyte": analyte.code, "expected": analyte.unit, "unit": unit})
    if unit and not analyte.unit:
        raise DomainError("unit_mismatch", _("%(analyte)s has no unit, not %(unit)s.") % {
            "analyte": analyte.code, "unit": unit})
    observed_at = item.get("observed_at") or now
    if not isinstance(observed_at, datetime) or timezone.is_naive(observed_at) or observed_at > now + CLOCK_SKEW:
        raise DomainError("invalid_observed_at", _("The observation time of %(analyte)s is not valid.") % {
            "analyte": analyte.code})
    return Entry(analyte=analyte, value=value, text=text, unit=analyte.unit, observed_at=observed_at)


def check_technician(actor) -> None:
    if getattr(actor, "role", None) != Role.LAB_TECH:
        raise Forbidden("not_lab_tech", _("Only a lab technician can record results."))


def locked_order(*, order_id: int | None = None, number: str | None = None) -> DiagnosticOrder:
    """The order, locked for the caller's transaction; ``order_not_found`` if there is none."""
    qs = DiagnosticOrder.objects.select_for_update(of=("self",)).select_related("test", "patient__user", "doctor__user")
    order = qs.filter(pk=order_id).first() if order_id is not None else qs.filter(number=number or "").first()
    if order is None:
        raise NotFound("order_not_found", _("There is no such test order."))
    return order


def collect(*, actor, order_id: int) -> DiagnosticOrder:
    """The specimen of a checked-in lab order was taken: it can now be resulted. (An exam is marked done by its
    first image instead: ``imaging.upload``.)"""
    check_technician(actor)
    with transaction.atomic():
        order = locked_order(order_id=order_id)
        if order.test.kind != DiagnosticKind.LAB:
            raise Conflict("not_a_lab_test", _("Images mark an exam as done: upload them instead."))
        if order.status != OrderStatus.CHECKED_IN:
            raise Conflict("not_checked_in", _("The patient has not been checked in."))
        transition(order, OrderStatus.COLLECTED, actor=actor, reason="specimen collected")
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"order": order.number, "collected": timezone.now().isoformat()})
    return order


def check_resultable(order: DiagnosticOrder) -> None:
    if order.status not in (OrderStatus.COLLECTED, OrderStatus.RESULTED):
        raise Conflict("order_not_collected", _("Results can be recorded only once the specimen is collected, and "
                                                "corrected only before they are released."))


def store(*, actor, order: DiagnosticOrder, entries: list[Entry], source: str, detail: dict | None = None
          ) -> list[Observation]:
    """Write checked entries of a locked, resultable order (inside the caller's transaction): new versions, flags,
    the move to "resulted", the audit row, and the alert to the doctor for critical values."""
    if not entries:
        raise DomainError("no_values", _("No values were given."))
    codes = [e.analyte.code for e in entries]
    if len(set(codes)) != len(codes):
        raise DomainError("duplicate_analyte", _("An analyte was given twice."))
    correction = order.status == OrderStatus.RESULTED
    versions = dict(Observation.objects.filter(order=order).values("analyte_id").annotate(v=Max("version"))
                    .values_list("analyte_id", "v"))
    patient = order.patient
    created = []
    for e in entries:
        code, reference = flag(e.analyte, e.value, e.text, sex=patient.sex,
                               age=patient.age(timezone.localdate(e.observed_at)))
        created.append(Observation.objects.create(
            order=order, analyte=e.analyte, value=e.value, text=e.text, unit=e.unit, flag=code, reference=reference,
            observed_at=e.observed_at, version=versions.get(e.analyte.pk, 0) + 1, source=source, entered_by=actor))
    if order.status == OrderStatus.COLLECTED:
        transition(order, OrderStatus.RESULTED, actor=actor, reason=f"results recorded ({source})")
    critical = [o for o in created if o.flag in CRITICAL_FLAGS]
    audit.record(actor=actor, action=AuditAction.UPDATE if correction else AuditAction.CREATE, obj=order,
                 patient_id=order.patient_id, detail={
                     "results": {o.analyte.code: o.flag for o in created}, "source": source,
                     "correction": correction, "critical_alerted": [o.analyte.code for o in critical],
                     **(detail or {})})
    if critical:
        alert_critical(order, critical)
    _schedule_release(order.pk)
    return created


def _schedule_release(order_id: int) -> None:
    """A timed check when the order falls due for automatic release (a correction starts the wait again). The
    periodic ``release_due_results`` sweep catches anything a lost task would miss."""
    from . import tasks

    hours = int(getattr(settings, "DIAGNOSTICS_AUTO_RELEASE_HOURS", 72))
    at = timezone.now() + timedelta(hours=hours, minutes=1)
    transaction.on_commit(lambda: tasks.release_result.using(run_after=at).enqueue(order_id))


def alert_critical(order: DiagnosticOrder, critical: list[Observation]) -> None:
    """Tell the ordering doctor now (stored, and pushed live to ``user.<id>`` on commit). Names and flags only."""
    doctor = order.doctor.user
    with translation.override(getattr(doctor, "language", None) or settings.LANGUAGE_CODE):
        names = ", ".join(f"{o.analyte.name} {o.flag}" for o in critical)
        title = gettext("Critical value: %(analytes)s (order %(number)s)") % {"analytes": names,
                                                                             "number": order.number}
        body = gettext("Open the result of %(patient)s and act on it now.") % {"patient": order.patient.real_name}
    notify(users=[doctor], kind="diagnostics.critical", title=title, body=body, link=result_link(order),
           dedupe_key=f"diagnostics.critical:{order.pk}:{max(o.pk for o in critical)}")


def record(*, actor, order_id: int, values: list[dict], source: str = "manual") -> list[Observation]:
    """Record (or correct) an order's values as a lab technician. See the module docstring."""
    check_technician(actor)
    with transaction.atomic():
        order = locked_order(order_id=order_id)
        check_resultable(order)
        if not values:
            raise DomainError("no_values", _("No values were given."))
        analytes = analytes_of(order)
        now = timezone.now()
        entries = []
        for i, item in enumerate(values):
            try:
                entries.append(parse_entry(analytes, item, now=now))
            except DomainError as err:
                err.fields = {**err.fields, f"values.{i}": err.message}
                raise
        return store(actor=actor, order=order, entries=entries, source=source)


# ---- sign-off and release -----------------------------------------------------------------------------------------


def _may_sign_off(actor, order: DiagnosticOrder) -> bool:
    if getattr(actor, "role", None) != Role.DOCTOR:
        return False
    if order.doctor.user_id == actor.pk:
        return True
    practitioner = getattr(actor, "practitioner", None)
    if practitioner is None:
        return False
    mine = set(practitioner.departments.values_list("pk", flat=True))
    return bool(mine & set(order.doctor.departments.values_list("pk", flat=True)))


def _tell_patient(order: DiagnosticOrder) -> None:
    users = [order.patient.user, *[p.proxy_user for p in order.patient.proxies.filter(status=ProxyStatus.ACTIVE)
                                   .select_related("proxy_user")]]
    for user in users:
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            title = gettext("Your test result is ready")
            body = gettext("The result of test order %(number)s has been released.") % {"number": order.number}
        notify(users=[user], kind="diagnostics.released", title=title, body=body, link=result_link(order),
               dedupe_key=f"diagnostics.released:{order.pk}")


def sign_off(*, actor, order_id: int) -> DiagnosticOrder:
    """The ordering doctor (or a doctor of one of their departments) releases a resulted order to the patient."""
    with transaction.atomic():
        order = locked_order(order_id=order_id)
        if not _may_sign_off(actor, order):
            raise Forbidden("not_ordering_doctor",
                            _("Only the ordering doctor or a doctor of the same department can sign off results."))
        if order.status != OrderStatus.RESULTED:
            raise Conflict("not_resulted", _("There are no results waiting for sign-off."))
        transition(order, OrderStatus.RELEASED, actor=actor, reason="signed off", released_at=timezone.now(),
                   released_by=actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"released": "signed_off"})
        _tell_patient(order)
    return order


def current_observations(order: DiagnosticOrder) -> list[Observation]:
    """The latest version of each analyte's value."""
    seen, latest = set(), []
    for obs in order.observations.order_by("analyte_id", "-version"):
        if obs.analyte_id not in seen:
            seen.add(obs.analyte_id)
            latest.append(obs)
    return latest


def release_due(*, now: datetime | None = None, order_id: int | None = None) -> list[int]:
    """Release the results left unsigned for ``DIAGNOSTICS_AUTO_RELEASE_HOURS`` (since their last value) — except
    critical ones (any current value ``LL``/``HH``), which always wait for the doctor. Returns the released order
    ids. ``order_id`` limits it to one order (the timed task)."""
    now = now or timezone.now()
    hours = int(getattr(settings, "DIAGNOSTICS_AUTO_RELEASE_HOURS", 72))
    cutoff = now - timedelta(hours=hours)
    due = DiagnosticOrder.objects.filter(status=OrderStatus.RESULTED)
    if order_id is not None:
        due = due.filter(pk=order_id)
    due = due.annotate(last=Max("observations__entered_at")).filter(last__lte=cutoff).values_list("pk", flat=True)
    released = []
    for pk in list(due):
        with transaction.atomic():
            order = locked_order(order_id=pk)
            if order.status != OrderStatus.RESULTED:
                continue
            if any(o.flag in (Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH) for o in current_observations(order)):
                continue
            transition(order, OrderStatus.RELEASED, actor=None, reason=f"released automatically after {hours} h",
                       released_at=now)
            audit.record(actor=None, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                         detail={"released": "automatic", "after_hours": hours})
            _tell_patient(order)
        released.append(pk)
    return released
