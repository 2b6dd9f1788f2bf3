"""Signing: the doctor's personal act (second factor), the content hash and seal, immutability afterwards, the
expiry task, and verifying a slip (genuine, not genuine, tampered) without revealing health data."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.accounts.models import User
from ihospital.accounts.services import SECOND_FACTOR_AT
from ihospital.core.models import AuditAction, AuditEvent
from ihospital.core.transitions import timeline
from ihospital.prescriptions import refilling, services, tasks
from ihospital.prescriptions.models import Prescription, PrescriptionItem, RxStatus
from tests.helpers import current_code, wrong_code
from tests.prescriptions.factories import amlodipine, draft, item, metformin, refused, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(doc, visit):
    """A chronic draft with one medicine, ready to sign."""
    return draft(doc, visit, item(amlodipine()), refills_allowed=2)


def device_of(doctor):
    return doctor.user.totpdevice_set.get()


def sign_with(doctor, rx, **kw):
    return services.sign_prescription(actor=doctor.user, prescription_id=rx.pk, **kw)


# ---- the second factor ------------------------------------------------------------------------------------------


def test_signing_needs_the_six_digit_code(doc, ready):
    before = state()
    assert refused("second_factor_required", sign_with, doc, ready).status == 401
    assert refused("second_factor_required", sign_with, doc, ready, session={}).status == 401
    assert state() == before


def test_a_wrong_code_signs_nothing_and_counts_as_a_failed_attempt(doc, ready):
    before = state()

    error = refused("invalid_second_factor", sign_with, doc, ready, code=wrong_code(device_of(doc)))

    assert error.status == 401
    assert state() == before
    ready.refresh_from_db()
    assert (ready.status, ready.content_hash, ready.signed_at) == (RxStatus.DRAFT, "", None)
    assert User.objects.get(pk=doc.user.pk).failed_logins == 1


def test_the_right_code_signs_and_refreshes_the_session(doc, ready):
    session = {}
    rx = sign_with(doc, ready, code=current_code(device_of(doc)), session=session)
    assert rx.status == RxStatus.SIGNED
    assert SECOND_FACTOR_AT in session


def test_a_code_typed_moments_ago_counts(doc, ready, settings):
    fresh = {SECOND_FACTOR_AT: (timezone.now() - timedelta(minutes=settings.CONSULT_REAUTH_MINUTES - 1)).isoformat()}
    assert sign_with(doc, ready, session=fresh).status == RxStatus.SIGNED


def test_a_code_typed_too_long_ago_does_not(doc, ready, settings):
    stale = {SECOND_FACTOR_AT: (timezone.now() - timedelta(minutes=settings.CONSULT_REAUTH_MINUTES + 1)).isoformat()}
    before = state()
    refused("second_factor_required", sign_with, doc, ready, session=stale)
    refused("second_factor_required", sign_with, doc, ready, session={SECOND_FACTOR_AT: "yesterday"})
    assert state() == before


def test_only_the_author_signs(doc, ready, department, pharmacist, patient):
    from tests.visits.factories import online_doctor

    colleague = online_doctor(department)
    before = state()
    refused("not_found", sign_with, colleague, ready, code=current_code(device_of(colleague)))
    refused("not_a_doctor", services.sign_prescription, actor=pharmacist, prescription_id=ready.pk, code="123456")
    refused("not_a_doctor", services.sign_prescription, actor=patient.user, prescription_id=ready.pk)
    assert state() == before


# ---- what signing stores ------------------------------------------------------------------------------------------


def test_signing_hashes_and_seals_the_content(doc, ready, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rx = sign_with(doc, ready, code=current_code(device_of(doc)))

    rx = Prescription.objects.get(pk=rx.pk)
    assert rx.status == RxStatus.SIGNED and rx.is_signed
    assert len(rx.content_hash) == 64 and rx.content_hash == services.hash_content(rx)
    assert rx.doctor_seal == services.seal("doctor", doc.user.pk, doc.licence_no, rx.content_hash)
    assert rx.valid_until == rx.signed_at + timedelta(days=3)
    assert rx.checks == []
    content = services.content_of(rx)
    assert content["items"][0]["sku"] == "CV-AML-5" and content["patient"]["mrn"] == patient.mrn
    assert [(e.from_status, e.to_status) for e in timeline(rx)] == [("draft", "signed")]
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_id=str(rx.pk),
                                      object_type="prescriptions.prescription").last()
    assert event.detail["signed"] == rx.content_hash and event.patient_id == patient.pk
    # The expiry is a task at valid_until.
    (task,) = DBTaskResult.objects.filter(task_path=tasks.expire_prescription.module_path)
    assert task.args_kwargs == {"args": [rx.pk], "kwargs": {}}
    assert task.run_after == rx.valid_until


def test_the_seal_depends_on_the_key(doc, ready, settings):
    rx = sign_with(doc, ready, code=current_code(device_of(doc)))
    settings.RX_SEAL_KEY = "another hospital's key"
    assert services.seal("doctor", doc.user.pk, doc.licence_no, rx.content_hash) != rx.doctor_seal


def test_a_signed_prescription_cannot_be_changed(doc, ready):
    rx = sign_with(doc, ready, code=current_code(device_of(doc)))
    line = rx.items.get()
    before = state()

    for act, kwargs in [
        (services.add_item, item(metformin(), dose="500")),
        (services.remove_item, {"item_id": line.pk}),
        (services.update_prescription, {"notes": "改一下"}),
        (services.update_prescription, {"guardian_name": "someone"}),
        (services.sign_prescription, {"code": "000000"}),
    ]:
        error = refused("prescription_signed", act, actor=doc.user, prescription_id=rx.pk, **kwargs)
        assert error.status == 409
    with pytest.raises(TypeError):
        PrescriptionItem.objects.get(pk=line.pk).delete()
    with pytest.raises(TypeError):
        rx.delete()

    assert state() == before


def test_a_draft_can_be_cancelled_without_a_reason_a_signed_one_needs_one(doc, visit, ready):
    cancelled = services.cancel_prescription(actor=doc.user, prescription_id=ready.pk, reason="")
    assert cancelled.status == RxStatus.CANCELLED

    rx = draft(doc, visit, item(metformin(), dose="500"))
    rx = sign_with(doc, rx, code=current_code(device_of(doc)))
    before = state()
    assert refused("reason_required", services.cancel_prescription, actor=doc.user, prescription_id=rx.pk,
                   reason="  ").status == 400
    assert state() == before
    rx = services.cancel_prescription(actor=doc.user, prescription_id=rx.pk, reason="患者已住院")
    assert (rx.status, rx.status_reason) == (RxStatus.CANCELLED, "患者已住院")
    # The patient hears about a signed prescription being withdrawn.
    assert rx.patient.user.notifications.filter(kind="prescription.cancelled").count() == 1


# ---- verifying a slip -------------------------------------------------------------------------------------------


@pytest.fixture
def slip(doc, ready):
    return sign_with(doc, ready, code=current_code(device_of(doc)))


def test_a_genuine_slip(slip, patient, doc):
    result = services.verify_slip(number=slip.number, fingerprint=slip.content_hash[:16])

    assert result["genuine"] is True and result["tampered"] is False
    assert (result["number"], result["status"], result["content_hash"]) == (slip.number, "signed", slip.content_hash)
    assert result["doctor"] == doc.user.real_name
    name = patient.user.real_name
    assert result["patient"] == name[0] + "*" * (len(name) - 1) and name not in result["patient"]
    # The whole hash works too, and the case of the letters does not matter.
    assert services.verify_slip(number=slip.number, fingerprint=slip.content_hash.upper())["genuine"] is True


def test_the_verification_shows_no_medicine(slip):
    shown = json.dumps(services.verify_slip(number=slip.number, fingerprint=slip.content_hash[:16]),
                       default=str, ensure_ascii=False)
    drug = amlodipine()
    for word in (drug.sku, drug.generic_name_zh, drug.generic_name_en, "氨氯地平", "amlodipine", drug.brand_name_zh,
                 slip.diagnosis_code, slip.diagnosis_display, slip.patient.mrn, slip.patient.resident_id):
        assert word.lower() not in shown.lower()


@pytest.mark.parametrize("fingerprint", ["", "0" * 16, "zz", "short"])
def test_a_wrong_or_short_fingerprint_is_not_genuine(slip, fingerprint):
    assert services.verify_slip(number=slip.number, fingerprint=fingerprint) == {"genuine": False}


def test_a_prefix_shorter_than_the_slips_is_not_enough(slip):
    # Numbers are sequential: a one-letter prefix would be guessed in sixteen tries.
    for length in (1, 4, 15):
        assert services.verify_slip(number=slip.number, fingerprint=slip.content_hash[:length]) == {"genuine": False}


def test_unknown_numbers_and_drafts_are_not_genuine(slip, doc, visit):
    assert services.verify_slip(number="RX000", fingerprint=slip.content_hash[:16]) == {"genuine": False}
    unsigned = draft(doc, visit, item(metformin(), dose="500"))
    assert services.verify_slip(number=unsigned.number, fingerprint="0" * 64) == {"genuine": False}


@pytest.mark.parametrize(
    "change",
    [
        lambda rx: PrescriptionItem.objects.filter(prescription=rx).update(quantity=9),
        lambda rx: PrescriptionItem.objects.filter(prescription=rx).update(dose="10.000"),
        lambda rx: Prescription.objects.filter(pk=rx.pk).update(notes="每日三次"),
        lambda rx: Prescription.objects.filter(pk=rx.pk).update(refills_allowed=5),
        lambda rx: Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() + timedelta(days=300)),
    ],
    ids=["quantity", "dose", "notes", "refills", "validity"],
)
def test_a_change_behind_the_applications_back_shows_as_tampered(slip, change):
    change(slip)

    result = services.verify_slip(number=slip.number, fingerprint=slip.content_hash[:16])

    assert result["genuine"] is False and result["tampered"] is True


# ---- a code is not spent on a signature that would be refused ------------------------------------------------------


def test_a_code_is_not_spent_when_signing_is_refused_for_a_finding(doc, visit):
    from tests.helpers import current_code as code_now

    rx = draft(doc, visit, item(amlodipine(), dose="10", frequency="bid", duration_days=7))
    code = code_now(device_of(doc))

    refused("check_findings_unresolved", sign_with, doc, rx, code=code)
    refused("no_items", sign_with, doc, draft(doc, visit), code=code)
    # The doctor gives the reason and retries at once with the same code: it was not used up, nor counted as wrong.
    signed_rx = sign_with(doc, rx, code=code, overrides={"dose:CV-AML-5": "短期加量"})

    assert signed_rx.status == RxStatus.SIGNED
    assert User.objects.get(pk=doc.user.pk).failed_logins == 0


def test_a_code_is_not_spent_when_approving_a_refill_is_refused_for_a_finding(doc, patient, pharmacist, diagnosis):
    from ihospital.records import services as records
    from tests.prescriptions.factories import make_due, monthly, refill

    request_ = refill(make_due(monthly(doc, patient, pharmacist, condition=diagnosis)))
    allergy = records.add_allergy(actor=patient.user, patient_id=patient.pk, substance="氨氯地平过敏")
    code = current_code(device_of(doc))
    before = state()

    refused("check_findings_unresolved", refilling.approve_refill, actor=doc.user, refill_id=request_.pk, code=code)

    assert state() == before
    renewal = refilling.approve_refill(actor=doc.user, refill_id=request_.pk, code=code,
                                      overrides={f"allergy:CV-AML-5:{allergy.pk}": "过敏记录有误，已核实"})
    assert renewal.is_signed
    assert User.objects.get(pk=doc.user.pk).failed_logins == 0
