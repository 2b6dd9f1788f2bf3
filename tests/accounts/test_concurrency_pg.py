"""Races that only a real database server shows: uniqueness and lockout under concurrent requests.

Each thread has its own PostgreSQL connection; the conftest hook skips these tests on SQLite.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.utils import timezone

from ihospital.accounts import services
from ihospital.accounts.models import Consent, PatientProfile, Proxy, ProxyStatus, User
from ihospital.core.audit import verify_chain
from tests.factories import PASSWORD, PatientFactory, make_resident_id
from tests.helpers import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def test_concurrent_registrations_with_the_same_phone():
    def register(i):
        return services.register_patient(
            real_name="张三",
            resident_id=make_resident_id(date(1980, 1, 1), "M", i),
            phone="13800138000",
            password=PASSWORD,
            health_data_consent=True,
        ).pk

    results = run_in_threads(THREADS, register)
    kinds = Counter(kind for kind, _ in results)
    assert kinds == {"ok": 1, "domain": THREADS - 1}, results
    assert {code for kind, code in results if kind == "domain"} <= {"phone_taken", "already_registered"}
    assert User.objects.filter(phone="+8613800138000").count() == 1
    assert PatientProfile.objects.count() == 1
    assert Consent.objects.count() == 1
    assert verify_chain().ok


def test_concurrent_registrations_with_the_same_resident_id():
    number = make_resident_id(date(1980, 1, 1), "F", 1)

    def register(i):
        return services.register_patient(
            real_name="李四", resident_id=number, phone=f"1380013{i:04d}", password=PASSWORD,
            health_data_consent=True,
        ).pk

    results = run_in_threads(THREADS, register)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": THREADS - 1}, results
    assert {code for kind, code in results if kind == "domain"} <= {"resident_id_taken", "already_registered"}
    assert PatientProfile.objects.filter(resident_id=number).count() == 1
    # The losers' user rows were rolled back with their profile.
    assert User.objects.count() == 1


def test_concurrent_wrong_passwords_lock_the_account(settings):
    settings.LOGIN_IP_MAX_FAILURES = 10_000
    user = PatientFactory().user

    def guess(i):
        return services.check_credentials(identifier=user.phone, password=f"wrong-{i}")

    results = run_in_threads(THREADS, guess)
    codes = Counter(code for kind, code in results)
    assert set(codes) <= {"invalid_credentials", "account_locked"}, results
    # Every thread passed the "is it locked?" test at about the same time, yet only the allowed number of
    # passwords were actually checked: the others were refused as locked.
    assert codes["invalid_credentials"] == settings.LOGIN_MAX_FAILURES, codes
    assert codes["account_locked"] == THREADS - settings.LOGIN_MAX_FAILURES
    user.refresh_from_db()
    assert user.locked_until is not None and user.locked_until > timezone.now()
    assert user.failed_logins == 0  # the count restarts with the lock
    # Locked: the right password does not get in.
    with pytest.raises(services.DomainError) as exc:
        services.check_credentials(identifier=user.phone, password=PASSWORD)
    assert exc.value.code == "account_locked"


def test_concurrent_invitations_make_one_live_link():
    patient = PatientFactory()
    relative = PatientFactory()

    def invite(i):
        return services.invite_proxy(
            patient_user=patient.user, proxy_phone=relative.user.phone, proxy_real_name=relative.user.real_name,
            relationship="child", consent=True,
        ).pk

    results = run_in_threads(10, invite)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 9}, results
    assert {code for kind, code in results if kind == "domain"} == {"proxy_exists"}
    assert Proxy.objects.filter(status=ProxyStatus.ACTIVE).count() == 1
    assert Proxy.objects.count() == 1


def test_concurrent_approvals_of_one_request():
    patient = PatientFactory()
    relative = PatientFactory()
    proxy = services.request_proxy(
        proxy_user=relative.user, patient_phone=patient.user.phone, patient_real_name=patient.user.real_name,
        relationship="parent",
    )

    def approve(i):
        return services.approve_proxy(patient_user=patient.user, proxy_id=proxy.pk, consent=True).status

    results = run_in_threads(10, approve)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 9}, results
    assert {code for kind, code in results if kind == "domain"} <= {"invalid_transition", "stale_status"}
    # Exactly one proxy consent was recorded: the losers' consents rolled back with them.
    assert Consent.objects.filter(kind="proxy").count() == 1
