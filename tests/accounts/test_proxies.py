"""Proxies (relatives acting for a patient): invitation, request and approval, decline, revocation, consent."""

from __future__ import annotations

import pytest

from ihospital.accounts.models import Consent, ConsentKind, Proxy, ProxyStatus, User
from ihospital.core.transitions import timeline
from tests.factories import PatientFactory
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def relative(db):
    return PatientFactory(user__real_name="王小明")


@pytest.fixture
def as_patient(patient):
    return token_headers(patient.user)


@pytest.fixture
def as_relative(relative):
    return token_headers(relative.user)


def post(client, url, headers, data=None):
    return client.post(url, data or {}, content_type="application/json", headers=headers)


def chart_status(client, headers, patient) -> int:
    return client.get(f"/api/patients/{patient.pk}/chart", headers=headers).status_code


def invite(client, headers, relative, *, consent=True, name=None, phone=None):
    return post(
        client,
        "/api/proxies/invite",
        headers,
        {
            "proxy_phone": phone or relative.user.phone,
            "proxy_real_name": relative.user.real_name if name is None else name,
            "relationship": "child",
            "consent": consent,
        },
    )


def ask(client, headers, patient):
    return post(
        client,
        "/api/proxies/request",
        headers,
        {"patient_phone": patient.user.phone, "patient_real_name": patient.user.real_name, "relationship": "parent"},
    )


def test_invite_with_consent_makes_an_active_link(client, patient, relative, as_patient, as_relative):
    assert chart_status(client, as_relative, patient) == 404
    response = invite(client, as_patient, relative)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == ProxyStatus.ACTIVE
    proxy = Proxy.objects.get(pk=body["id"])
    assert proxy.consent.kind == ConsentKind.PROXY and proxy.consent.active
    assert proxy.consent.subject == f"proxy:{proxy.pk}" and proxy.consent.given_by == patient.user
    assert [(e.from_status, e.to_status) for e in timeline(proxy)] == [("pending", "active")]

    response = client.get(f"/api/patients/{patient.pk}/chart", headers=as_relative)
    assert response.status_code == 200
    assert response.json()["access"] == "proxy"
    me = client.get("/api/me", headers=as_relative).json()
    assert {p["id"] for p in me["patients"]} == {relative.pk, patient.pk}


def test_invite_without_consent_creates_nothing(client, patient, relative, as_patient, as_relative):
    before = counts(with_audit=True)
    response = invite(client, as_patient, relative, consent=False)
    assert response.status_code == 400
    assert error_of(response)["code"] == "consent_required"
    assert counts(with_audit=True) == before
    assert chart_status(client, as_relative, patient) == 404


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": "李四"}, "proxy_not_found"),  # the real name must match the number
        ({"name": ""}, "proxy_not_found"),
        ({"phone": "13600000000"}, "proxy_not_found"),  # nobody registered with this number
        ({"phone": "not a phone"}, "invalid_phone"),
    ],
)
def test_invite_refusals_create_nothing(client, relative, as_patient, change, code):
    before = counts(with_audit=True)
    response = invite(client, as_patient, relative, **change)
    assert response.status_code == 400
    assert error_of(response)["code"] == code
    assert counts(with_audit=True) == before


def test_cannot_be_your_own_proxy(client, patient, as_patient):
    before = counts(with_audit=True)
    response = invite(client, as_patient, patient)
    assert error_of(response)["code"] == "proxy_self"
    response = ask(client, as_patient, patient)
    assert error_of(response)["code"] == "proxy_self"
    assert counts(with_audit=True) == before


def test_duplicate_live_link_is_refused(client, patient, relative, as_patient, as_relative):
    assert invite(client, as_patient, relative).status_code == 201
    before = counts(with_audit=True)
    response = invite(client, as_patient, relative)
    assert response.status_code == 400
    assert error_of(response)["code"] == "proxy_exists"
    response = ask(client, as_relative, patient)
    assert error_of(response)["code"] == "proxy_exists"
    assert counts(with_audit=True) == before


def test_pending_request_blocks_an_invitation_too(client, patient, relative, as_patient, as_relative):
    assert ask(client, as_relative, patient).status_code == 201
    response = invite(client, as_patient, relative)
    assert error_of(response)["code"] == "proxy_exists"
    assert Proxy.objects.count() == 1


def test_request_with_a_wrong_patient_name_is_refused(client, patient, as_relative):
    before = counts(with_audit=True)
    response = post(
        client,
        "/api/proxies/request",
        as_relative,
        {"patient_phone": patient.user.phone, "patient_real_name": "别人", "relationship": "parent"},
    )
    assert error_of(response)["code"] == "patient_not_found"
    assert counts(with_audit=True) == before


def test_request_grants_nothing_until_the_patient_approves(client, patient, relative, as_patient, as_relative):
    response = ask(client, as_relative, patient)
    assert response.status_code == 201
    proxy_id = response.json()["id"]
    assert response.json()["status"] == ProxyStatus.PENDING
    assert chart_status(client, as_relative, patient) == 404
    assert {p["id"] for p in client.get("/api/me", headers=as_relative).json()["patients"]} == {relative.pk}

    # The patient sees the request; the relative sees it too.
    assert [p["id"] for p in client.get("/api/proxies", headers=as_patient).json()] == [proxy_id]
    assert [p["id"] for p in client.get("/api/proxies", headers=as_relative).json()] == [proxy_id]

    # Approval needs the consent.
    before = counts(with_audit=True)
    response = post(client, f"/api/proxies/{proxy_id}/approve", as_patient, {"consent": False})
    assert error_of(response)["code"] == "consent_required"
    assert counts(with_audit=True) == before
    assert chart_status(client, as_relative, patient) == 404

    # The relative cannot approve their own request.
    response = post(client, f"/api/proxies/{proxy_id}/approve", as_relative, {"consent": True})
    assert response.status_code == 404
    assert Proxy.objects.get(pk=proxy_id).status == ProxyStatus.PENDING

    response = post(client, f"/api/proxies/{proxy_id}/approve", as_patient, {"consent": True})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == ProxyStatus.ACTIVE
    proxy = Proxy.objects.get(pk=proxy_id)
    assert proxy.consent is not None and proxy.consent.active and proxy.consent.subject == f"proxy:{proxy_id}"
    assert chart_status(client, as_relative, patient) == 200

    # Approving twice is a conflict and changes nothing.
    before = counts(with_audit=True)
    response = post(client, f"/api/proxies/{proxy_id}/approve", as_patient, {"consent": True})
    assert response.status_code == 409
    assert error_of(response)["code"] == "invalid_transition"
    assert counts(with_audit=True) == before


def test_decline(client, patient, relative, as_patient, as_relative):
    proxy_id = ask(client, as_relative, patient).json()["id"]
    response = post(client, f"/api/proxies/{proxy_id}/decline", as_patient)
    assert response.status_code == 200
    assert response.json()["status"] == ProxyStatus.DECLINED
    assert chart_status(client, as_relative, patient) == 404
    response = post(client, f"/api/proxies/{proxy_id}/approve", as_patient, {"consent": True})
    assert response.status_code == 409
    assert error_of(response)["code"] == "invalid_transition"
    assert Proxy.objects.get(pk=proxy_id).status == ProxyStatus.DECLINED
    assert not Consent.objects.filter(kind=ConsentKind.PROXY).exists()
    # A declined request does not block a new one.
    assert ask(client, as_relative, patient).status_code == 201


@pytest.mark.parametrize("by", ["patient", "relative"])
def test_revoke_ends_access_and_the_consent(client, patient, relative, as_patient, as_relative, by):
    proxy_id = invite(client, as_patient, relative).json()["id"]
    assert chart_status(client, as_relative, patient) == 200
    headers = as_patient if by == "patient" else as_relative
    response = post(client, f"/api/proxies/{proxy_id}/revoke", headers)
    assert response.status_code == 200
    assert response.json()["status"] == ProxyStatus.REVOKED
    assert chart_status(client, as_relative, patient) == 404
    proxy = Proxy.objects.get(pk=proxy_id)
    assert proxy.consent.withdrawn_at is not None
    # Revoking again is refused; a new invitation is possible afterwards.
    assert post(client, f"/api/proxies/{proxy_id}/revoke", headers).status_code == 409
    assert invite(client, as_patient, relative).status_code == 201
    assert chart_status(client, as_relative, patient) == 200


def test_withdrawing_the_proxy_consent_ends_the_link(client, patient, relative, as_patient, as_relative):
    proxy_id = invite(client, as_patient, relative).json()["id"]
    consent_id = Proxy.objects.get(pk=proxy_id).consent_id
    response = post(client, f"/api/consents/{consent_id}/withdraw", as_patient)
    assert response.status_code == 200
    assert response.json()["withdrawn_at"] is not None
    assert Proxy.objects.get(pk=proxy_id).status == ProxyStatus.REVOKED
    assert chart_status(client, as_relative, patient) == 404


def test_withdrawn_consent_alone_already_stops_access(client, patient, relative, as_patient, as_relative):
    # Even if the link were still marked active, a withdrawn consent grants nothing.
    proxy = Proxy.objects.get(pk=invite(client, as_patient, relative).json()["id"])
    Consent.objects.filter(pk=proxy.consent_id).update(withdrawn_at=proxy.created_at)
    assert Proxy.objects.get(pk=proxy.pk).status == ProxyStatus.ACTIVE
    assert chart_status(client, as_relative, patient) == 404


def test_a_relative_whose_consent_was_withdrawn_is_no_longer_told_about_the_patient(client, patient, relative,
                                                                                  as_patient):
    from ihospital.accounts.selectors import patient_and_relatives

    proxy = Proxy.objects.get(pk=invite(client, as_patient, relative).json()["id"])
    assert patient_and_relatives(patient) == [patient.user, proxy.proxy_user]
    Consent.objects.filter(pk=proxy.consent_id).update(withdrawn_at=proxy.created_at)
    assert patient_and_relatives(patient) == [patient.user]


def test_strangers_cannot_touch_someone_elses_proxy(client, patient, relative, as_patient, as_relative):
    stranger = token_headers(PatientFactory().user)
    pending_id = ask(client, as_relative, patient).json()["id"]
    before = counts(with_audit=True)
    for action, data in (("approve", {"consent": True}), ("decline", None), ("revoke", None)):
        response = post(client, f"/api/proxies/{pending_id}/{action}", stranger, data)
        assert response.status_code == 404, action
        assert error_of(response)["code"] == "not_found"
    assert client.get("/api/proxies", headers=stranger).json() == []
    assert counts(with_audit=True) == before
    assert Proxy.objects.get(pk=pending_id).status == ProxyStatus.PENDING


def test_a_patient_who_withdrew_health_data_consent_cannot_invite(client, patient, relative, as_patient):
    Consent.objects.filter(patient=patient, kind=ConsentKind.HEALTH_DATA).update(withdrawn_at=patient.created_at)
    before = counts(with_audit=True)
    response = invite(client, as_patient, relative)
    assert response.status_code == 403
    assert error_of(response)["code"] == "consent_withdrawn"
    assert counts(with_audit=True) == before


def test_staff_cannot_be_invited_as_proxy(client, as_patient, doctor):


    User.objects.filter(pk=doctor.user.pk).update(phone="+8613511112222")
    response = post(
        client,
        "/api/proxies/invite",
        as_patient,
        {
            "proxy_phone": "13511112222",
            "proxy_real_name": doctor.user.real_name,
            "relationship": "child",
            "consent": True,
        },
    )
    assert error_of(response)["code"] == "proxy_not_found"
