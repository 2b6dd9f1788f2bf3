"""Someone else's visit answers 404 on every endpoint, exactly like a visit that does not exist, changes nothing,
and the refusal is written to the audit log with the patient it concerned."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.visits import chat
from tests.factories import PatientFactory
from tests.helpers import error_of, token_headers
from tests.visits import flows
from tests.visits.factories import ConditionFactory, SlotFactory, online_doctor

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"

# (method, path under /api/visits/{id}, JSON body, "file" for an upload or None, doctor-only)
ENDPOINTS = [
    ("get", "", None, False),
    ("get", "/messages", None, False),
    ("get", "/messages?after=1", None, False),
    ("post", "/messages", {"body": "你好"}, False),
    ("post", "/attachments", "file", False),
    ("post", "/read", {"last_read_id": 1}, False),
    ("get", "/note", None, False),
    ("post", "/rating", {"rating": 5}, False),
    ("post", "/cancel", {"reason": "x"}, False),
    ("post", "/accept", None, True),
    ("post", "/start", None, True),
    ("post", "/refuse", {"reason": "x"}, True),
    ("post", "/refer", {"reason": "x"}, True),
    ("put", "/note", flows.NOTE, True),
    ("post", "/close", None, True),
    ("post", "/basis-review", {"accept": True, "code": "I10"}, True),
]

IDS = [f"{method} {path}" for method, path, *_ in ENDPOINTS]


def call(client, method, url, body, headers):
    if body == "file":
        return client.post(url, {"file": SimpleUploadedFile("x.png", PNG, content_type="image/png")}, headers=headers)
    if body is None:
        return getattr(client, method)(url, headers=headers)
    return getattr(client, method)(url, body, content_type="application/json", headers=headers)


@pytest.fixture
def their_visit(department):
    """Another patient's visit with their doctor: in progress, with a message and a note."""
    owner = PatientFactory()
    their_doctor = online_doctor(department)
    slot = SlotFactory(practitioner=their_doctor, department=department)
    visit = flows.start(flows.book(owner, slot, ConditionFactory(patient=owner)), their_doctor)
    flows.write_note(visit, their_doctor)
    chat.post_message(actor=owner.user, visit_id=visit.pk, body="医生好")
    return visit


@pytest.mark.parametrize(("method", "path", "body", "doctor_only"), ENDPOINTS, ids=IDS)
def test_a_stranger_doctor_gets_404_everywhere(client, their_visit, department, method, path, body, doctor_only):
    stranger = online_doctor(department)  # same department, consulting today, just not this visit's doctor
    headers = token_headers(stranger.user)
    before = flows.state()
    mark = AuditEvent.objects.count()

    response = call(client, method, f"/api/visits/{their_visit.pk}{path}", body, headers)
    missing = call(client, method, f"/api/visits/{10**9}{path}", body, headers)

    assert response.status_code == 404, response.content
    assert error_of(response) == error_of(missing)  # indistinguishable from a visit that does not exist
    assert flows.state() == before
    denied = AuditEvent.objects.filter(seq__gt=mark, outcome=AuditOutcome.DENIED, object_type="visits.visit",
                                       object_id=str(their_visit.pk))
    assert denied.count() == 1
    assert denied.get().patient_id == their_visit.patient_id and denied.get().actor == stranger.user


@pytest.mark.parametrize(("method", "path", "body", "doctor_only"), ENDPOINTS, ids=IDS)
def test_a_stranger_patient_gets_404_or_a_doctors_only_refusal(client, their_visit, patient, method, path, body,
                                                                  doctor_only):
    headers = token_headers(patient.user)
    before = flows.state()
    mark = AuditEvent.objects.count()

    response = call(client, method, f"/api/visits/{their_visit.pk}{path}", body, headers)
    missing = call(client, method, f"/api/visits/{10**9}{path}", body, headers)

    assert error_of(response) == error_of(missing)
    assert flows.state() == before
    if doctor_only:
        # Refused for being a patient, whatever the id: nothing about the visit is revealed.
        assert response.status_code == 403 and error_of(response)["code"] == "not_a_doctor"
    else:
        assert response.status_code == 404, response.content
        denied = AuditEvent.objects.get(seq__gt=mark, outcome=AuditOutcome.DENIED, object_id=str(their_visit.pk))
        assert denied.patient_id == their_visit.patient_id and denied.actor == patient.user


def test_a_former_proxy_loses_the_visit(client, patient, relative, diagnosis, slot):
    from ihospital.accounts import services as accounts
    from ihospital.accounts.models import Proxy

    visit = flows.book(patient, slot, diagnosis)
    headers = token_headers(relative)
    assert client.get(f"/api/visits/{visit.pk}", headers=headers).status_code == 200
    proxy = Proxy.objects.get(proxy_user=relative)
    accounts.withdraw_consent(actor=patient.user, consent_id=proxy.consent_id)
    assert client.get(f"/api/visits/{visit.pk}", headers=headers).status_code == 404
    assert client.get(f"/api/visits?patient_id={patient.pk}", headers=headers).status_code == 404


def test_anonymous_requests_are_refused(client, their_visit):
    response = client.get(f"/api/visits/{their_visit.pk}/messages")
    assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated"
