"""Per-object privacy of home nursing through the API: every endpoint that takes a request's or a visit's id answers
404 (like an id that does not exist) to another patient, a relative of someone else, a nurse not assigned to the
visit, the visit's nurse after the access window (and before it opens), a dispatcher on a request not yet accepted,
and security staff; each refusal leaves a DENIED audit row naming the patient, and nothing changes. Successful
reads leave a READ row with the patient's id and the reader's role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.accounts import services as accounts
from ihospital.accounts.models import Proxy
from ihospital.core.audit import verify_chain
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome, TimelineEvent
from ihospital.homecare.models import (
    Assessment,
    CareRecord,
    Correction,
    NurseVisit,
    NursingRequest,
    Rating,
)
from ihospital.payments.models import Payment
from tests.factories import PatientFactory
from tests.homecare import factories as f
from tests.homecare.apiclient import Api, ok, refusal

pytestmark = pytest.mark.django_db

REQUEST = "homecare.nursingrequest"
VISIT = "homecare.nursevisit"

# (method, path, body): bodies that pass the schema, so that the refusal comes from the scoping.
REQUEST_ENDPOINTS = [
    ("get", "/requests/{id}", None),
    ("post", "/requests/{id}/cancel", {"reason": "不需要了"}),
    ("post", "/requests/{id}/confirm", {}),
    ("post", "/requests/{id}/pay", {}),
    ("post", "/requests/{id}/rating", {"stars": 5}),
    ("post", "/requests/{id}/release", {}),
    ("post", "/requests/{id}/assessment", {"accept": False, "decline_reason": "other", "notes": "不适合"}),
    ("post", "/requests/{id}/assign", {"nurse_id": 1, "start": "09:30"}),
    ("post", "/requests/{id}/unassign", {}),
    ("post", "/requests/{id}/hospital-cancel", {"reason": "护士生病"}),
]
CLAIM = ("post", "/requests/{id}/claim", {})
VISIT_ENDPOINTS = [
    ("get", "/visits/{id}", None),
    ("post", "/visits/{id}/set-out", {}),
    ("post", "/visits/{id}/turn-back", {"reason": "路上遇到急事"}),
    ("post", "/visits/{id}/check-in", {"latitude": 37.856, "longitude": 112.57}),
    ("post", "/visits/{id}/record", {"procedure_notes": "换药"}),
    ("post", "/visits/{id}/check-out", {}),
    ("post", "/visits/{id}/corrections", {"reason": "记录有误，更正", "procedure_notes": "更正后的记录"}),
]


def state() -> dict:
    """What a refused call must leave alone."""
    return {
        "requests": sorted(NursingRequest.objects.values_list("pk", "status", "paid_at")),
        "visits": sorted(NurseVisit.objects.values_list("pk", "nurse_id", "set_out_at", "checked_in_at",
                                                        "checked_out_at", "confirmed_at")),
        "assessments": sorted(Assessment.objects.values_list("pk", "nurse_id", "accepted")),
        "records": sorted(CareRecord.objects.values_list("pk", "version", "procedure_notes")),
        "timeline": TimelineEvent.objects.count(), "ratings": Rating.objects.count(),
        "corrections": Correction.objects.count(), "payments": Payment.objects.count(),
    }


def call(api: Api, method: str, path: str, body, object_id: int):
    path = path.replace("{id}", str(object_id))
    return api.get(path) if method == "get" else api.post(path, body or {})


def refused_everywhere(api: Api, user, endpoints, object_type: str, object_id: int, patient_id: int) -> list[str]:
    """Call each endpoint; answer what went wrong (empty when every call was an audited 404)."""
    problems = []
    for method, path, body in endpoints:
        before = AuditEvent.objects.filter(actor=user, outcome=AuditOutcome.DENIED).count()
        response = call(api, method, path, body, object_id)
        if response.status_code != 404 or response.json()["error"]["code"] != "not_found":
            problems.append(f"{method} {path}: {response.status_code} {response.content[:200]!r}")
            continue
        denied = AuditEvent.objects.filter(actor=user, outcome=AuditOutcome.DENIED).order_by("seq")
        last = denied.last()
        if denied.count() != before + 1 or (last.object_type, last.object_id, last.patient_id) != (
                object_type, str(object_id), patient_id):
            problems.append(f"{method} {path}: no DENIED audit row for {object_type} {object_id}")
    return problems


@pytest.fixture
def live_visit(elder, nurse):
    """A visit of today with the nurse in the home (checked in at the address: not flagged)."""
    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)
    visit.refresh_from_db()
    return visit


@pytest.fixture
def unrelated_proxy(db):
    """A relative acting for another patient, nothing to do with the elder."""
    other = f.eligible_patient()
    person = PatientFactory()
    accounts.invite_proxy(patient_user=other.user, proxy_phone=person.user.phone,
                          proxy_real_name=person.user.real_name, relationship="child", consent=True)
    return person.user


def _assert_refused(client, user, live_visit, *, requests=True, visits=True, claim=True):
    api = Api(client, user)
    req = live_visit.request
    before = state()
    problems = []
    if requests:
        endpoints = REQUEST_ENDPOINTS + ([CLAIM] if claim else [])
        problems += refused_everywhere(api, user, endpoints, REQUEST, req.pk, req.patient_id)
    if visits:
        problems += refused_everywhere(api, user, VISIT_ENDPOINTS, VISIT, live_visit.pk, req.patient_id)
    assert problems == []
    assert state() == before


def test_another_patient_gets_404_everywhere(client, live_visit):
    _assert_refused(client, PatientFactory().user, live_visit)


def test_a_relative_of_someone_else_gets_404_everywhere(client, live_visit, unrelated_proxy):
    _assert_refused(client, unrelated_proxy, live_visit)


def test_a_nurse_not_assigned_gets_404(client, live_visit, other_nurse):
    # Claiming is open to every qualified nurse (for a request waiting for assessment), so it is left out.
    _assert_refused(client, other_nurse, live_visit, claim=False)


def test_security_staff_get_404_on_requests_and_visits(client, live_visit, guard):
    _assert_refused(client, guard, live_visit)


def test_the_nurse_after_the_access_window_gets_404(client, elder, nurse):
    visit = f.today_visit(elder, nurse)
    f.completed(visit, nurse)
    long_ago = timezone.now() - timedelta(days=3)
    # Past the window both as the visit's nurse and as the request's assessor.
    NurseVisit.objects.filter(pk=visit.pk).update(checked_out_at=long_ago)
    Assessment.objects.filter(request=visit.request).update(decided_at=long_ago)
    _assert_refused(client, nurse, visit, claim=False)


def test_the_nurse_before_the_window_opens_gets_404(client, elder, nurse, other_nurse, dispatcher):
    req = f.booked(elder, day=timezone.localdate() + timedelta(days=5))
    f.accepted(req, other_nurse)  # someone else assessed it
    visit = f.scheduled(req, nurse, by=dispatcher)
    api = Api(client, nurse)
    refusal(api.get(f"/visits/{visit.pk}"), 404, "not_found")
    refusal(api.get(f"/requests/{req.pk}"), 404, "not_found")
    # The day before the visit, the nurse may prepare.
    NurseVisit.objects.filter(pk=visit.pk).update(day=timezone.localdate() + timedelta(days=1))
    assert ok(api.get(f"/visits/{visit.pk}"))["role"] == "nurse"


def test_a_dispatcher_gets_404_on_a_request_not_yet_accepted(client, elder, nurse, dispatcher):
    req = f.booked(elder)
    api = Api(client, dispatcher)
    before = state()
    assert refused_everywhere(api, dispatcher, REQUEST_ENDPOINTS + [CLAIM], REQUEST, req.pk, elder.pk) == []
    assessing_ = f.accepted(req, nurse)
    assert ok(api.get(f"/requests/{assessing_.pk}"))["role"] == "dispatcher"
    assert state()["timeline"] > before["timeline"]


def test_booking_and_listing_for_someone_else_is_404_and_audited(client, elder, unrelated_proxy):
    f.load_catalogue()
    api = Api(client, unrelated_proxy)
    body = {"patient_id": elder.pk, "service_code": "wound_dressing", "group": "elderly", "address": f.ADDRESS,
            "preferred_date": f.tomorrow().isoformat(), "window_start": "09:00", "window_end": "12:00",
            "consent": True}
    refusal(api.post("/requests", body), 404, "not_found")
    refusal(api.get("/requests", patient_id=elder.pk), 404, "not_found")
    events = AuditEvent.objects.filter(actor=unrelated_proxy, outcome=AuditOutcome.DENIED,
                                       object_type="accounts.patientprofile", object_id=str(elder.pk))
    assert events.count() == 2 and {e.patient_id for e in events} == {elder.pk}
    assert not NursingRequest.objects.exists()


def test_an_id_that_does_not_exist_looks_the_same(client, live_visit):
    api = Api(client, PatientFactory().user)
    theirs = refusal(api.get(f"/requests/{live_visit.request_id}"), 404, "not_found")
    missing = refusal(api.get(f"/requests/{live_visit.request_id + 1000}"), 404, "not_found")
    assert theirs == missing
    assert refusal(api.get(f"/visits/{live_visit.pk}"), 404, "not_found") == refusal(
        api.get(f"/visits/{live_visit.pk + 1000}"), 404, "not_found")


def test_the_patients_relative_sees_and_acts_until_the_link_is_revoked(client, elder, relative):
    req = f.booked(elder)
    api = Api(client, relative)
    assert ok(api.get(f"/requests/{req.pk}"))["role"] == "patient"
    assert [r["id"] for r in ok(api.get("/requests", patient_id=elder.pk))] == [req.pk]
    link = Proxy.objects.get(patient=elder, proxy_user=relative)
    accounts.revoke_proxy(actor=elder.user, proxy_id=link.pk, reason="不再代办")
    refusal(api.get(f"/requests/{req.pk}"), 404, "not_found")
    refusal(api.post(f"/requests/{req.pk}/cancel", {}), 404, "not_found")
    assert NursingRequest.objects.get(pk=req.pk).status == "requested"


def test_a_supervisor_sees_a_flagged_visit_only(client, elder, nurse, other_nurse):
    visit = f.today_visit(elder, nurse)
    api = Api(client, other_nurse)  # a 主管护师 not on the visit
    refusal(api.get(f"/visits/{visit.pk}"), 404, "not_found")
    f.in_service(visit, nurse, where=None)  # checked in without a location: flagged
    assert ok(api.get(f"/visits/{visit.pk}"))["role"] == "supervisor"
    # …which lets them review it, not work on it.
    refusal(api.post(f"/visits/{visit.pk}/record", {"procedure_notes": "x"}), 404, "not_found")


def test_successful_reads_are_audited_with_the_patient(client, elder, relative, nurse, dispatcher, live_visit):
    req = live_visit.request
    reads_before = AuditEvent.objects.filter(action=AuditAction.READ, outcome=AuditOutcome.OK).count()

    ok(Api(client, elder.user).get(f"/requests/{req.pk}"))
    ok(Api(client, relative).get(f"/requests/{req.pk}"))
    ok(Api(client, nurse).get(f"/requests/{req.pk}"))
    ok(Api(client, dispatcher).get(f"/requests/{req.pk}"))
    ok(Api(client, nurse).get(f"/visits/{live_visit.pk}"))
    ok(Api(client, elder.user).get("/requests", patient_id=elder.pk))
    ok(Api(client, nurse).get("/route"))
    ok(Api(client, dispatcher).get("/board"))

    reads = AuditEvent.objects.filter(action=AuditAction.READ, outcome=AuditOutcome.OK).order_by("seq")
    assert reads.count() - reads_before == 8
    single = reads.filter(object_type=REQUEST, object_id=str(req.pk))
    assert [(e.actor_id, e.detail["role"], e.patient_id) for e in single] == [
        (elder.user.pk, "patient", elder.pk), (relative.pk, "patient", elder.pk), (nurse.pk, "nurse", elder.pk),
        (dispatcher.pk, "dispatcher", elder.pk)]
    [visit_read] = reads.filter(object_type=VISIT, object_id=str(live_visit.pk))
    assert (visit_read.actor_id, visit_read.patient_id, visit_read.detail["role"]) == (nurse.pk, elder.pk, "nurse")
    [listed] = reads.filter(object_type=REQUEST, object_id="", actor=elder.user)
    assert (listed.patient_id, listed.detail["list"]) == (elder.pk, "patient")
    assert {e.detail.get("list") for e in reads.filter(object_id="", actor__in=[nurse, dispatcher])} == {
        "route", "day_board"}
    assert verify_chain().ok
