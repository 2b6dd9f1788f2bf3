"""Per-object privacy of prescriptions and refills: someone else's id answers 404 and leaves a DENIED audit row;
proxies see their patient's and nobody else's; a draft is the doctor's alone; every read is audited."""

from __future__ import annotations

import pytest

from ihospital.accounts import services as accounts
from ihospital.accounts.models import Proxy
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.prescriptions import refilling, selectors, services
from ihospital.prescriptions.models import RxStatus
from tests.factories import PatientFactory, StaffUserFactory
from tests.prescriptions.factories import (
    DrugFactory,
    draft,
    item,
    make_due,
    monthly,
    refill,
    refused,
    signed,
)
from tests.visits.factories import online_doctor

pytestmark = pytest.mark.django_db

LISTS = [
    selectors.prescriptions_of_patient,
    selectors.refills_of_patient,
    selectors.refillable_prescriptions,
    selectors.current_medications,
]


def denied(user, object_type: str, object_id) -> AuditEvent:
    return AuditEvent.objects.get(actor=user, action=AuditAction.READ, outcome=AuditOutcome.DENIED,
                                  object_type=object_type, object_id=str(object_id))


@pytest.fixture
def stranger(db):
    """Another patient, with a prescription of their own."""
    return PatientFactory()


@pytest.fixture
def request_(doc, patient, pharmacist, diagnosis):
    return refill(make_due(monthly(doc, patient, pharmacist, condition=diagnosis)))


# ---- another patient's ids ------------------------------------------------------------------------------------------


def test_another_patients_prescription_is_404_and_audited(rx, stranger, patient):
    error = refused("not_found", selectors.prescription_for, stranger.user, rx.pk)

    assert error.status == 404
    assert denied(stranger.user, "prescriptions.prescription", rx.pk).patient_id == patient.pk
    # An id that does not exist looks the same.
    refused("not_found", selectors.prescription_for, stranger.user, rx.pk + 1000)
    assert denied(stranger.user, "prescriptions.prescription", rx.pk + 1000).patient_id is None


def test_another_patients_refill_is_404_and_audited(request_, stranger, patient):
    refused("not_found", selectors.refill_for, stranger.user, request_.pk)
    refused("not_found", refilling.cancel_refill, actor=stranger.user, refill_id=request_.pk)
    assert AuditEvent.objects.filter(actor=stranger.user, outcome=AuditOutcome.DENIED, patient_id=patient.pk,
                                     object_type="prescriptions.refillrequest").count() == 2
    request_.refresh_from_db()
    assert request_.status == "requested"


@pytest.mark.parametrize("read", LISTS, ids=lambda f: f.__name__)
def test_another_patients_lists_are_404_and_audited(rx, stranger, patient, read):
    refused("not_found", read, stranger.user, patient.pk)
    assert denied(stranger.user, "accounts.patientprofile", patient.pk).patient_id == patient.pk


def test_asking_for_a_refill_of_someone_elses_prescription(request_, stranger):
    refused("not_found", refill, request_.prescription, actor=stranger.user)


# ---- proxies --------------------------------------------------------------------------------------------------


def test_a_proxy_sees_their_patients_prescriptions_and_nobody_elses(rx, relative, stranger, doc):
    theirs = signed(doc, stranger, item(DrugFactory()))

    assert selectors.prescription_for(relative, rx.pk)[1] == "patient"
    assert list(selectors.prescriptions_of_patient(relative, rx.patient_id)) == [rx]
    refused("not_found", selectors.prescription_for, relative, theirs.pk)
    refused("not_found", selectors.prescriptions_of_patient, relative, stranger.pk)


def test_a_revoked_proxy_is_denied(relative, patient, request_):
    rx = request_.prescription
    assert selectors.prescription_for(relative, rx.pk)[1] == "patient"
    link = Proxy.objects.get(patient=patient, proxy_user=relative)
    accounts.revoke_proxy(actor=patient.user, proxy_id=link.pk, reason="不再代办")

    refused("not_found", selectors.prescription_for, relative, rx.pk)
    refused("not_found", selectors.refill_for, relative, request_.pk)
    for read in LISTS:
        refused("not_found", read, relative, patient.pk)
    refused("not_found", refill, rx, actor=relative)
    assert AuditEvent.objects.filter(actor=relative, outcome=AuditOutcome.DENIED).count() == 7


# ---- drafts are the doctor's alone -------------------------------------------------------------------------------


@pytest.fixture
def unsigned(doc, visit):
    return draft(doc, visit, item(DrugFactory()))


def test_a_pharmacist_never_sees_a_draft(unsigned, pharmacist, doc):
    refused("not_found", selectors.prescription_for, pharmacist, unsigned.pk)
    refused("not_found", services.check_prescription, actor=pharmacist, prescription_id=unsigned.pk)
    assert unsigned not in selectors.review_worklist(pharmacist)
    # Nor once the doctor dropped it (cancelled before it was ever signed).
    services.cancel_prescription(actor=doc.user, prescription_id=unsigned.pk, reason="")
    refused("not_found", selectors.prescription_for, pharmacist, unsigned.pk)


def test_the_patient_never_sees_a_draft(unsigned, patient, relative, doc):
    for user in (patient.user, relative):
        refused("not_found", selectors.prescription_for, user, unsigned.pk)
        assert list(selectors.prescriptions_of_patient(user, patient.pk)) == []
    services.cancel_prescription(actor=doc.user, prescription_id=unsigned.pk, reason="")
    refused("not_found", selectors.prescription_for, patient.user, unsigned.pk)
    assert list(selectors.prescriptions_of_patient(patient.user, patient.pk)) == []


def test_the_patient_sees_it_once_signed_and_after_it_was_cancelled(rx, patient, doc, pharmacist):
    assert selectors.prescription_for(patient.user, rx.pk)[1] == "patient"
    services.cancel_prescription(actor=doc.user, prescription_id=rx.pk, reason="改为门诊")
    rx_, role = selectors.prescription_for(patient.user, rx.pk)
    assert (rx_.status, role) == (RxStatus.CANCELLED, "patient")
    assert selectors.prescription_for(pharmacist, rx.pk)[1] == "pharmacist"


# ---- doctors ---------------------------------------------------------------------------------------------------


def test_a_doctor_does_not_see_another_doctors_prescriptions(rx, unsigned, department, doc):
    colleague = online_doctor(department)  # even in the same department

    for prescription in (rx, unsigned):
        refused("not_found", selectors.prescription_for, colleague.user, prescription.pk)
        refused("not_found", services.cancel_prescription, actor=colleague.user, prescription_id=prescription.pk,
                reason="x")
    assert list(selectors.doctor_prescriptions(colleague.user)) == []
    assert set(selectors.doctor_prescriptions(doc.user)) == {rx, unsigned}


def test_staff_of_other_roles_see_nothing(rx):
    nurse = StaffUserFactory(role="nurse")
    refused("not_found", selectors.prescription_for, nurse, rx.pk)
    refused("not_found", selectors.review_worklist, nurse)
    refused("not_found", selectors.refill_worklist, nurse)
    refused("not_found", selectors.doctor_prescriptions, nurse)


# ---- every read is audited --------------------------------------------------------------------------------------


def test_every_read_of_a_prescription_writes_an_audit_row(rx, patient, relative, pharmacist, doc):
    for user, role in ((patient.user, "patient"), (relative, "patient"), (pharmacist, "pharmacist"),
                       (doc.user, "doctor")):
        before = AuditEvent.objects.count()
        selectors.prescription_for(user, rx.pk)
        (event,) = AuditEvent.objects.order_by("-seq")[: AuditEvent.objects.count() - before]
        assert (event.actor, event.action, event.outcome, event.object_id) == (user, "read", "ok", str(rx.pk))
        assert (event.patient_id, event.detail) == (patient.pk, {"role": role})


@pytest.mark.parametrize("read", LISTS, ids=lambda f: f.__name__)
def test_every_list_of_a_patients_medicines_is_audited(rx, patient, relative, read):
    before = AuditEvent.objects.filter(actor=relative, action=AuditAction.READ, patient_id=patient.pk).count()
    read(relative, patient.pk)
    assert AuditEvent.objects.filter(actor=relative, action=AuditAction.READ, patient_id=patient.pk).count() == (
        before + 1)


def test_reading_a_refill_is_audited(request_, doc, patient):
    selectors.refill_for(doc.user, request_.pk)
    assert AuditEvent.objects.filter(actor=doc.user, action=AuditAction.READ, patient_id=patient.pk,
                                     object_type="prescriptions.refillrequest", object_id=str(request_.pk)).exists()

