"""Signing in: tokens, lockout, per-address throttling, the staff second factor, sessions and idle timeout."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.utils import timezone

from ihospital.accounts.middleware import LAST_SEEN
from ihospital.accounts.models import ApiToken, Role
from ihospital.accounts.services import issue_api_token
from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from tests.factories import PASSWORD, NurseFactory, PatientFactory, StaffUserFactory, TOTPDeviceFactory
from tests.helpers import counts, current_code, error_of, token_headers, verify_session, wrong_code

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token"
ME = "/api/me"


def get_token(client, login, password=PASSWORD, otp="", **extra):
    return client.post(
        TOKEN, {"login": login, "password": password, "otp": otp}, content_type="application/json", **extra
    )


def local_number(user) -> str:
    return user.phone.removeprefix("+86")


# ---- patients: tokens --------------------------------------------------------------------------------------


def test_patient_gets_a_token_with_the_local_mobile_number(client, patient):
    response = get_token(client, local_number(patient.user))
    assert response.status_code == 201, response.content
    key = response.json()["token"]
    row = ApiToken.objects.get(user=patient.user)
    assert row.key_hash == ApiToken.hash_key(key) and key not in row.key_hash  # only the hash is stored
    assert row.otp_verified is False
    me = client.get(ME, headers={"authorization": f"Bearer {key}"})
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == patient.user.pk and body["role"] == Role.PATIENT
    assert [p["id"] for p in body["patients"]] == [patient.pk]
    assert AuditEvent.objects.filter(
        action=AuditAction.LOGIN, actor=patient.user, outcome=AuditOutcome.OK
    ).exists()


def test_wrong_password_is_refused_and_counted(client, patient):
    before = counts()
    response = get_token(client, patient.user.phone, password="not-the-password")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_credentials"
    assert counts() == before
    patient.user.refresh_from_db()
    assert patient.user.failed_logins == 1
    assert AuditEvent.objects.filter(
        action=AuditAction.LOGIN, object_id=str(patient.user.pk), outcome=AuditOutcome.FAILED
    ).exists()


def test_unknown_login_gets_the_same_answer_as_a_wrong_password(client):
    response = get_token(client, "13912345678", password="whatever-123")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_credentials"


def test_inactive_account_cannot_sign_in(client, patient):
    patient.user.is_active = False
    patient.user.save()
    response = get_token(client, patient.user.phone)
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_credentials"
    assert not ApiToken.objects.exists()


def test_account_locks_after_max_failures_and_unlocks_after_expiry(client, patient, settings):
    settings.LOGIN_IP_MAX_FAILURES = 1000
    user = patient.user
    for attempt in range(settings.LOGIN_MAX_FAILURES):
        response = get_token(client, user.phone, password=f"wrong-{attempt}")
        assert error_of(response)["code"] == "invalid_credentials"
    user.refresh_from_db()
    assert user.locked_until is not None and user.locked_until > timezone.now()
    assert user.failed_logins == 0  # the counter restarts once the lock is set
    locked_until = user.locked_until

    # While locked, even the correct password is refused, and guesses neither count nor extend the lock.
    before = counts()
    response = get_token(client, user.phone)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "account_locked"
    assert get_token(client, user.phone, password="another-guess").status_code == 403
    assert counts() == before
    user.refresh_from_db()
    assert (user.failed_logins, user.locked_until) == (0, locked_until)
    assert AuditEvent.objects.filter(object_id=str(user.pk), outcome=AuditOutcome.DENIED).count() == 2

    # Time passes: the lock has expired.
    type(user).objects.filter(pk=user.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    response = get_token(client, user.phone)
    assert response.status_code == 201, response.content
    user.refresh_from_db()
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_success_resets_the_failure_counter(client, patient, settings):
    user = patient.user
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        get_token(client, user.phone, password="wrong-password")
    assert get_token(client, user.phone).status_code == 201
    user.refresh_from_db()
    assert user.failed_logins == 0
    assert get_token(client, user.phone, password="wrong-password").status_code == 401
    user.refresh_from_db()
    assert user.failed_logins == 1 and user.locked_until is None


def test_per_address_throttle(client, patient, settings):
    settings.LOGIN_IP_MAX_FAILURES = 3
    settings.LOGIN_MAX_FAILURES = 100
    for n in range(3):
        response = get_token(client, f"1391000000{n}", password="guess-guess")
        assert error_of(response)["code"] == "invalid_credentials"
    before = counts()
    response = get_token(client, patient.user.phone)  # even the right password, from this address
    assert response.status_code == 429
    assert error_of(response)["code"] == "too_many_attempts"
    assert counts() == before
    patient.user.refresh_from_db()
    assert patient.user.failed_logins == 0
    # Another address is not affected.
    response = get_token(client, patient.user.phone, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 201


def test_admin_login_backend_goes_through_the_same_lockout(patient, settings):
    user = patient.user
    assert authenticate(username=user.phone, password=PASSWORD) == user
    assert authenticate(username=user.phone, password="wrong-password") is None
    for _ in range(settings.LOGIN_MAX_FAILURES):
        authenticate(username=user.phone, password="wrong-password")
    assert authenticate(username=user.phone, password=PASSWORD) is None  # locked
    user.refresh_from_db()
    assert user.locked_until is not None


# ---- staff: the second factor ----------------------------------------------------------------------------


def test_staff_token_needs_the_totp_code(client, doctor, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a wrong code would otherwise delay the next try by a second
    user = doctor.user
    device = user.totpdevice_set.get()
    before = counts()

    response = get_token(client, user.username)
    assert response.status_code == 401
    assert error_of(response)["code"] == "second_factor_required"
    user.refresh_from_db()
    assert user.failed_logins == 0  # asking for the code is not a failed attempt

    response = get_token(client, user.username, otp=wrong_code(device))
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_second_factor"
    user.refresh_from_db()
    assert user.failed_logins == 1  # a wrong code counts like a wrong password

    response = get_token(client, user.username, password="wrong-password", otp=current_code(device))
    assert error_of(response)["code"] == "invalid_credentials"
    assert counts() == before

    code = current_code(device)
    response = get_token(client, user.username, otp=code)
    assert response.status_code == 201, response.content
    key = response.json()["token"]
    assert ApiToken.objects.get(user=user).otp_verified is True
    me = client.get(ME, headers={"authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["role"] == Role.DOCTOR

    # The same code cannot be replayed.
    response = get_token(client, user.username, otp=code)
    assert error_of(response)["code"] == "invalid_second_factor"


def test_staff_without_an_authenticator_gets_no_token(client):
    user = StaffUserFactory(role=Role.PHARMACIST)
    response = get_token(client, user.username, otp="123456")
    assert response.status_code == 401
    assert error_of(response)["code"] == "second_factor_not_enrolled"
    assert not ApiToken.objects.exists()


def test_unconfirmed_authenticator_does_not_count(client):
    user = StaffUserFactory()
    device = TOTPDeviceFactory(user=user, confirmed=False)
    response = get_token(client, user.username, otp=current_code(device))
    assert error_of(response)["code"] == "second_factor_not_enrolled"


def test_staff_token_without_otp_verification_is_rejected(client, doctor):
    # issue_api_token itself refuses it...
    with pytest.raises(DomainError) as exc:
        issue_api_token(user=doctor.user, otp_verified=False)
    assert exc.value.code == "second_factor_required"
    # ...and a row that somehow lacks the verification is not accepted by the API.
    key = ApiToken.new_key()
    ApiToken.objects.create(
        user=doctor.user, key_hash=ApiToken.hash_key(key), otp_verified=False,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    headers = {"authorization": f"Bearer {key}"}
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


# ---- tokens: expiry and revocation ---------------------------------------------------------------------------


def test_token_revoke(client, patient):
    headers = token_headers(patient.user)
    assert client.get(ME, headers=headers).status_code == 200
    response = client.post("/api/auth/logout", headers=headers)
    assert response.status_code == 204
    assert ApiToken.objects.get(user=patient.user).revoked_at is not None
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_expired_token_is_rejected(client, patient):
    headers = token_headers(patient.user)
    ApiToken.objects.filter(user=patient.user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_token_of_a_deactivated_user_is_rejected(client, patient):
    headers = token_headers(patient.user)
    type(patient.user).objects.filter(pk=patient.user.pk).update(is_active=False)
    assert client.get(ME, headers=headers).status_code == 401


# ---- sessions ------------------------------------------------------------------------------------------------


def test_staff_session_without_otp_is_ended_by_the_middleware(client, doctor):
    client.force_login(doctor.user)
    response = client.get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "second_factor_required"
    assert "_auth_user_id" not in client.session  # the session was signed out
    assert client.get(ME).status_code == 401

    client.force_login(doctor.user)
    response = client.get("/records/")  # a page: sent to the sign-in form instead
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_staff_session_without_otp_is_rejected_by_the_api_itself(client, doctor, settings):
    # Even without the middleware, the API's own session auth insists on the second factor.
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "ihospital.accounts.middleware.StaffSecondFactorMiddleware"
    ]
    client.force_login(doctor.user)
    response = client.get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_staff_session_with_otp_is_accepted(client, doctor):
    client.force_login(doctor.user)
    verify_session(client, doctor.user.totpdevice_set.get())
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == doctor.user.username


def test_patient_session_is_accepted_without_second_factor(client, patient):
    client.force_login(patient.user)
    assert client.get(ME).status_code == 200


def _age_session(client, seconds: int) -> None:
    session = client.session
    session[LAST_SEEN] = int(time.time()) - seconds
    session.save()


def test_idle_patient_session_expires(client, patient, settings):
    client.force_login(patient.user)
    assert client.get(ME).status_code == 200
    assert LAST_SEEN in client.session
    _age_session(client, settings.IDLE_TIMEOUT_PATIENT - 60)
    assert client.get(ME).status_code == 200  # not idle long enough
    _age_session(client, settings.IDLE_TIMEOUT_PATIENT + 5)
    response = client.get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "session_expired"
    assert "_auth_user_id" not in client.session
    assert error_of(client.get(ME))["code"] == "not_authenticated"


def test_idle_timeout_is_shorter_for_staff(client, settings):
    assert settings.IDLE_TIMEOUT_STAFF < settings.IDLE_TIMEOUT_PATIENT
    nurse = NurseFactory()
    device = TOTPDeviceFactory(user=nurse.user)
    client.force_login(nurse.user)
    verify_session(client, device)
    assert client.get(ME).status_code == 200
    _age_session(client, settings.IDLE_TIMEOUT_STAFF + 5)  # still within the patients' limit
    response = client.get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "session_expired"

    patient = PatientFactory()
    client.force_login(patient.user)
    assert client.get(ME).status_code == 200
    _age_session(client, settings.IDLE_TIMEOUT_STAFF + 5)
    assert client.get(ME).status_code == 200

