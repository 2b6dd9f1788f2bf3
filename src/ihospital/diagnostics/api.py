"""The JSON API of medical tests under ``/api/diagnostics/``: one selector or service call per endpoint.

* Everyone signed in: the catalogue (``tests``) with each test's preparation.
* Doctors: order a test (``orders``), sign results off; the ordering doctor or a radiologist reports a study.
* Patients and their proxies: their orders, the free times of an order, book, reschedule, cancel the booking.
* Lab and imaging technicians: check a patient in, mark a lab specimen collected, enter results, import an HL7
  ORU^R01 message (``hl7``).

Reads go through ``selectors`` (scoped and audited): an order the caller may not see answers 404 exactly like one
that does not exist. What an order looks like depends on the caller's role on it (``role``): a patient sees the
values and the imaging report only once the results are released. Refusals are
``{"error": {"code", "message", "fields"?}}`` with a 4xx status (see ``ihospital.api``); each endpoint's docstring
lists its codes beyond ``not_found`` (404), ``invalid_input`` (422) and ``not_authenticated`` (401).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from ihospital.core.errors import DomainError

from . import booking, hl7import, imaging, ordering, results, selectors
from .models import DiagnosticKind, DiagnosticOrder, DiagnosticTest, ImagingStudy, OrderStatus, live_booking

router = Router(tags=["diagnostics"])


# ---- schemas ------------------------------------------------------------------------------------------------------


class AnalyteOut(Schema):
    code: str
    name: str
    unit: str


class TestOut(Schema):
    code: str
    kind: str
    name: str
    name_zh: str
    name_en: str
    loinc: str
    specimen: str
    modality: str
    preparation_text: str
    preparation: dict
    duration_minutes: int
    turnaround_hours: int
    price_fen: int
    analytes: list[AnalyteOut]


class OrderIn(Schema):
    patient_id: int
    test_code: str
    reason: str
    visit_id: int | None = None
    encounter_id: int | None = None
    safety: dict | None = None


class SlotOut(Schema):
    id: int
    starts_at: datetime
    ends_at: datetime
    resource: str
    location: str
    free: int


class BookingOut(Schema):
    slot: SlotOut
    reschedules: int
    checked_in_at: datetime | None


class ValueOut(Schema):
    analyte: str
    name: str
    value: Decimal | None
    text: str
    unit: str
    flag: str
    reference: str
    observed_at: datetime
    version: int


class StudyOut(Schema):
    study_uid: str
    modality: str
    findings: str
    impression: str
    reported_at: datetime | None


class OrderOut(Schema):
    id: int
    number: str
    role: str
    status: str
    status_label: str
    test: str
    test_name: str
    kind: str
    preparation_text: str
    patient_id: int
    patient_name: str
    doctor_name: str
    reason: str
    price_fen: int
    ordered_at: datetime
    released_at: datetime | None
    booking: BookingOut | None
    values: list[ValueOut] | None
    study: StudyOut | None


class OrderSummaryOut(Schema):
    id: int
    number: str
    status: str
    status_label: str
    test: str
    test_name: str
    ordered_at: datetime
    released_at: datetime | None


class SlotIn(Schema):
    slot_id: int


class ReasonIn(Schema):
    reason: str = ""


class ResultValueIn(Schema):
    analyte: str
    value: Decimal | str | None = None
    text: str = ""
    unit: str = ""


class ResultsIn(Schema):
    values: list[ResultValueIn]


class ReportIn(Schema):
    findings: str
    impression: str


class Hl7Out(Schema):
    ok: bool
    ack: str
    ack_code: str
    control_id: str
    orders: list[str]
    observations: int
    notes: list[str]


# ---- views of rows ------------------------------------------------------------------------------------------------


def _slot(slot) -> dict:
    return {"id": slot.pk, "starts_at": slot.starts_at, "ends_at": slot.ends_at, "resource": slot.resource.name,
            "location": slot.resource.location_zh if _chinese() else (slot.resource.location_en
                                                                     or slot.resource.location_zh),
            "free": max(slot.capacity - slot.booked, 0)}


def _chinese() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "").startswith("zh")


def _order_view(order: DiagnosticOrder, role: str) -> dict:
    """The order as ``role`` sees it: a patient sees values and the report only once released."""
    order.refresh_from_db()
    shown = role != "patient" or order.status == OrderStatus.RELEASED
    booked = live_booking(order)
    values = None
    if shown and order.test.kind == DiagnosticKind.LAB:
        values = [{"analyte": o.analyte.code, "name": o.analyte.name, "value": o.value, "text": o.text,
                   "unit": o.unit, "flag": o.flag, "reference": o.reference, "observed_at": o.observed_at,
                   "version": o.version}
                  for o in sorted(results.current_observations(order), key=lambda o: o.analyte.position)]
    study = ImagingStudy.objects.filter(order=order).first() if shown else None
    return {
        "id": order.pk, "number": order.number, "role": role, "status": order.status,
        "status_label": str(order.get_status_display()), "test": order.test.code, "test_name": order.test.name,
        "kind": order.test.kind, "preparation_text": order.test.preparation_text, "patient_id": order.patient_id,
        "patient_name": order.patient.real_name, "doctor_name": order.doctor.user.real_name,
        "reason": order.reason, "price_fen": order.price_fen, "ordered_at": order.ordered_at,
        "released_at": order.released_at,
        "booking": {"slot": _slot(booked.slot), "reschedules": booked.reschedules,
                    "checked_in_at": booked.checked_in_at} if booked else None,
        "values": values,
        "study": {"study_uid": study.study_uid, "modality": study.modality, "findings": study.findings,
                  "impression": study.impression, "reported_at": study.reported_at} if study else None,
    }


def _summary(order: DiagnosticOrder) -> dict:
    return {"id": order.pk, "number": order.number, "status": order.status,
            "status_label": str(order.get_status_display()), "test": order.test.code, "test_name": order.test.name,
            "ordered_at": order.ordered_at, "released_at": order.released_at}


def _seen_as(request, order_id: int) -> tuple[DiagnosticOrder, str]:
    return selectors.order_for(request.auth, order_id)


# ---- the catalogue ------------------------------------------------------------------------------------------------


@router.get("/tests", response=list[TestOut])
def tests(request):
    """The active tests and exams, with their preparation (text and rules) and, for lab tests, their analytes."""
    rows = DiagnosticTest.objects.filter(active=True).prefetch_related("analytes")
    return [{"code": t.code, "kind": t.kind, "name": t.name, "name_zh": t.name_zh, "name_en": t.name_en,
             "loinc": t.loinc, "specimen": t.specimen, "modality": t.modality, "preparation_text": t.preparation_text,
             "preparation": t.preparation or {}, "duration_minutes": t.duration_minutes,
             "turnaround_hours": t.turnaround_hours, "price_fen": t.price_fen,
             "analytes": [{"code": a.code, "name": a.name, "unit": a.unit} for a in t.analytes.all()]}
            for t in rows]


# ---- orders -------------------------------------------------------------------------------------------------------


@router.post("/orders", response={201: OrderOut})
def place_order(request, payload: OrderIn):
    """A doctor orders a test for a patient they are seeing (an online visit in progress, or an in-person
    encounter of the last 30 days).

    403: ``not_a_doctor``, ``no_context``. 404: ``test_not_found``. 409: ``already_ordered``. 400:
    ``reason_required``, ``safety_required``, ``contrast_allergy``, ``pregnant``, ``renal_function_required``,
    ``renal_function_too_low``."""
    placed = ordering.order(actor=request.auth, **payload.dict())
    order, role = _seen_as(request, placed.pk)
    return Status(201, _order_view(order, role))


@router.get("/orders", response=list[OrderSummaryOut])
def orders_of_patient(request, patient_id: int):
    """A patient's orders, newest first, for the patient or a proxy. 404 for anyone else."""
    return [_summary(o) for o in selectors.orders_of_patient(request.auth, patient_id)[:200]]


@router.get("/orders/{order_id}", response=OrderOut)
def get_order(request, order_id: int):
    """One order as the caller's role on it sees it (``role``: patient, doctor, radiologist, lab). A patient sees
    ``values`` and ``study`` only once the results are released (``null`` before). 404 for anyone else."""
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


@router.get("/orders/{order_id}/slots", response=list[SlotOut])
def order_slots(request, order_id: int, day: date):
    """The free times on ``day`` where the patient (or a proxy) can book the order (morning only for fasting
    tests); empty once the order is past booking. 404 for anyone else."""
    return [_slot(s) for s in booking.available_slots(actor=request.auth, order_id=order_id, day=day)]


@router.post("/orders/{order_id}/booking", response={201: OrderOut})
def book(request, order_id: int, payload: SlotIn):
    """The patient or a proxy books the order into a slot.

    404: ``slot_not_found``. 409: ``already_booked``, ``not_bookable``, ``slot_unavailable``, ``slot_full``,
    ``same_day_conflict``, ``reschedule_limit`` (booking again after a cancel is a move, and the moves are used up).
    400: ``wrong_resource``, ``fasting_morning_only``."""
    booking.book(actor=request.auth, order_id=order_id, slot_id=payload.slot_id)
    order, role = _seen_as(request, order_id)
    return Status(201, _order_view(order, role))


@router.put("/orders/{order_id}/booking", response=OrderOut)
def reschedule(request, order_id: int, payload: SlotIn):
    """The patient or a proxy moves the booking to another slot.

    409: ``not_booked``, ``reschedule_limit``, ``too_late_to_reschedule``, ``same_slot``, ``slot_unavailable``,
    ``slot_full``, ``same_day_conflict``. 404: ``slot_not_found``. 400: ``wrong_resource``,
    ``fasting_morning_only``."""
    booking.reschedule(actor=request.auth, order_id=order_id, slot_id=payload.slot_id)
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


@router.post("/orders/{order_id}/booking/cancel", response=OrderOut)
def cancel_booking(request, order_id: int, payload: ReasonIn):
    """The patient or a proxy cancels the booking (kept, marked cancelled); the order can be booked again, which
    counts as a move. 409: ``not_booked`` (also when already cancelled)."""
    booking.cancel_booking(actor=request.auth, order_id=order_id, reason=payload.reason)
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


@router.post("/orders/{order_id}/check-in", response=OrderOut)
def check_in(request, order_id: int):
    """A lab or imaging technician checks the patient in, on the day of the booking.

    403: ``not_lab_staff``. 409: ``not_booked``, ``not_today``."""
    booking.check_in(actor=request.auth, order_id=order_id)
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


@router.post("/orders/{order_id}/collected", response=OrderOut)
def collected(request, order_id: int):
    """A lab technician records that the specimen of a checked-in lab order was taken.

    403: ``not_lab_tech``. 409: ``not_a_lab_test``, ``not_checked_in``."""
    results.collect(actor=request.auth, order_id=order_id)
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


@router.post("/orders/{order_id}/results", response={201: OrderOut})
def post_results(request, order_id: int, payload: ResultsIn):
    """A lab technician records (or, before release, corrects) the order's values; all or nothing.

    403: ``not_lab_tech``. 404: ``order_not_found``. 409: ``order_not_collected``. 400: ``no_values``,
    ``unknown_analyte``, ``missing_value``, ``invalid_value``, ``unit_mismatch``, ``duplicate_analyte`` (with
    ``fields`` naming the value, e.g. ``values.0``)."""
    selectors.order_for(request.auth, order_id, audit_read=False)
    values = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.dict().items()}
              for item in payload.values]
    results.record(actor=request.auth, order_id=order_id, values=values)
    order, role = _seen_as(request, order_id)
    return Status(201, _order_view(order, role))


@router.post("/orders/{order_id}/sign-off", response=OrderOut)
def sign_off(request, order_id: int):
    """The ordering doctor (or a doctor of the same department) releases the results to the patient.

    403: ``not_ordering_doctor``. 409: ``not_resulted``."""
    selectors.order_for(request.auth, order_id, audit_read=False)
    results.sign_off(actor=request.auth, order_id=order_id)
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


@router.post("/orders/{order_id}/report", response=OrderOut)
def report(request, order_id: int, payload: ReportIn):
    """The ordering doctor or a radiologist reports an imaging study; the order becomes resulted.

    403: ``not_a_doctor``. 409: ``no_images``, ``invalid_transition``. 400: ``invalid_report``."""
    imaging.report(actor=request.auth, order_id=order_id, findings=payload.findings, impression=payload.impression)
    order, role = _seen_as(request, order_id)
    return _order_view(order, role)


# ---- HL7 ----------------------------------------------------------------------------------------------------------


def _hl7_text(request) -> str:
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            raise DomainError("invalid_input", _("Send the HL7 message as text, or as JSON {\"message\": ...}."),
                              status=422)
        return body["message"]
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError:
        return request.body  # bytes: the importer refuses it as malformed, with an ACK


@router.post("/hl7", response={200: Hl7Out})
def hl7(request):
    """A lab technician imports one HL7 v2 ORU^R01 message (the raw ER7 text as ``text/plain``, or JSON
    ``{"message": ...}``). The answer carries the ``ack`` to pass back to the sender.

    200 with ``ack_code`` AA: imported (or a duplicate of an imported message: nothing done). Refused, nothing
    imported: ``{"error": {"code", "message", "location"}, "ack", "ack_code"}`` — 400 with AR for ``malformed_hl7``
    and ``not_oru``; 409 with AE for ``order_not_collected``; 404 with AE for ``order_not_found``; 400 with AE for
    the others (``patient_mismatch``, ``test_mismatch``, ``unknown_analyte``, ``invalid_value``,
    ``unit_mismatch``...). 403: ``not_lab_tech`` (no ACK). 422: ``invalid_input`` (a JSON body without
    ``message``)."""
    results.check_technician(request.auth)
    done = hl7import.import_oru(actor=request.auth, message=_hl7_text(request))
    ack_code = done.ack.split("MSA|", 1)[1][:2] if "MSA|" in done.ack else ""
    if done.ok or done.code == "duplicate_message":
        return {"ok": done.ok, "ack": done.ack, "ack_code": ack_code, "control_id": done.control_id,
                "orders": done.orders, "observations": len(done.observations), "notes": done.notes}
    status = {"order_not_found": 404, "order_not_collected": 409}.get(done.code, 400)
    body = {"error": {"code": done.code, "message": done.message, "location": done.location},
            "ack": done.ack, "ack_code": ack_code, "control_id": done.control_id}
    from ihospital.api import api

    return api.create_response(request, body, status=status)

