"""Rules added after review: codes cannot be guessed while locked, staff cannot become proxies, the audit chain
is keyed, token clients get their saved language, diagnoses read in the reader's language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone, translation

from ihospital.accounts import services
from ihospital.accounts.models import Proxy
from ihospital.core import audit
from ihospital.core.errors import DomainError
from ihospital.records.services import add_condition
from tests.factories import PatientFactory, StaffUserFactory, TOTPDeviceFactory
from tests.helpers import current_code, error_of, token_headers

pytestmark = pytest.mark.django_db


def test_a_locked_staff_account_cannot_try_second_factor_codes(settings):
    staff = StaffUserFactory()
    device = TOTPDeviceFactory(user=staff)
    type(staff).objects.filter(pk=staff.pk).update(locked_until=timezone.now() + timedelta(minutes=10))
    with pytest.raises(DomainError) as exc:
        services.verify_second_factor(user=staff, code=current_code(device))
    assert exc.value.code == "account_locked"


def test_wrong_codes_lock_the_account_like_wrong_passwords(settings):
    settings.LOGIN_MAX_FAILURES = 3
    staff = StaffUserFactory()
    device = TOTPDeviceFactory(user=staff)
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    for _ in range(3):
        with pytest.raises(DomainError) as exc:
            services.verify_second_factor(user=staff, code=wrong)
        assert exc.value.code == "invalid_second_factor"
    staff.refresh_from_db()
    assert staff.locked_until is not None and staff.locked_until > timezone.now()
    with pytest.raises(DomainError) as exc:
        services.verify_second_factor(user=staff, code=current_code(device))
    assert exc.value.code == "account_locked"


def test_a_right_code_resets_the_attempt_count():
    staff = StaffUserFactory()
    device = TOTPDeviceFactory(user=staff)
    services.verify_second_factor(user=staff, code=current_code(device))
    staff.refresh_from_db()
    assert staff.failed_logins == 0 and staff.locked_until is None


def test_staff_cannot_ask_to_act_for_a_patient():
    patient = PatientFactory()
    staff = StaffUserFactory()
    with pytest.raises(DomainError) as exc:
        services.request_proxy(
            proxy_user=staff,
            patient_phone=patient.user.phone,
            patient_real_name=patient.user.real_name,
            relationship="child",
        )
    assert exc.value.code == "proxy_must_be_personal_account"
    assert not Proxy.objects.exists()


def test_recomputing_an_edited_row_without_the_key_is_still_detected(settings):
    for n in range(4):
        audit.record(actor=None, action="read", object_type="records.condition", object_id=n)
    # An attacker with database access edits row 2 and recomputes its hash (and every later one) with a bare
    # sha256, which is all they can do without the key held outside the database.
    import hashlib

    from ihospital.core.models import AuditEvent

    rows = list(AuditEvent.objects.order_by("seq"))
    prev = rows[0].hash
    with connection.cursor() as cursor:
        for row in rows[1:]:
            if row.seq == 2:
                row.action = "delete"
            row.prev_hash = prev
            row.hash = hashlib.sha256((prev + row.canonical()).encode()).hexdigest()
            cursor.execute(
                "UPDATE core_auditevent SET action=%s, prev_hash=%s, hash=%s WHERE id=%s",
                [row.action, row.prev_hash, row.hash, row.id],
            )
            prev = row.hash
        cursor.execute("UPDATE core_audithead SET last_hash=%s WHERE id=1", [prev])
    report = audit.verify_chain()
    assert not report.ok and report.broken_seq == 2


def test_the_chain_only_verifies_under_its_own_key(settings):
    audit.record(actor=None, action="read", object_type="records.condition", object_id=1)
    assert audit.verify_chain().ok
    settings.AUDIT_CHAIN_KEY = "another-key"
    report = audit.verify_chain()
    assert not report.ok and report.broken_seq == 1


def test_token_clients_get_messages_in_their_saved_language(client):
    patient = PatientFactory()
    services.set_preferences(user=patient.user, language="en")
    headers = token_headers(patient.user)
    response = client.post(
        "/api/patients/999999/allergies", {"substance": "x"}, content_type="application/json", headers=headers
    )
    assert response.status_code == 404
    assert error_of(response)["message"] == "Not found."
    services.set_preferences(user=patient.user, language="zh-hans")
    response = client.post(
        "/api/patients/999999/allergies", {"substance": "x"}, content_type="application/json", headers=headers
    )
    assert error_of(response)["message"] != "Not found."


def test_a_diagnosis_reads_in_the_readers_language(doctor):
    from tests.factories import PatientFactory as Patients

    patient = Patients()
    from ihospital.records.services import grant_care

    grant_care(clinician=doctor.user, patient=patient, source="manual")
    condition = add_condition(actor=doctor.user, patient_id=patient.pk, code="I10", chronic=True)
    with translation.override("en"):
        assert condition.name == "Essential (primary) hypertension"
    with translation.override("zh-hans"):
        assert condition.name == "原发性高血压"
