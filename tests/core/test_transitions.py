"""core.transitions: one helper for every status change, following the model's TRANSITIONS table."""

from __future__ import annotations

import pytest
from django.utils import translation

from ihospital.accounts.models import Proxy, ProxyStatus
from ihospital.core.errors import Conflict
from ihospital.core.models import TimelineEvent
from ihospital.core.transitions import allowed, timeline, transition
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def proxy(patient):
    relative = PatientFactory()
    return Proxy.objects.create(
        patient=patient, proxy_user=relative.user, relationship="child", requested_by=relative.user
    )


def test_allowed_follows_the_table():
    assert allowed(Proxy, ProxyStatus.PENDING) == {ProxyStatus.ACTIVE, ProxyStatus.DECLINED, ProxyStatus.REVOKED}
    assert allowed(Proxy, ProxyStatus.ACTIVE) == {ProxyStatus.REVOKED}
    assert allowed(Proxy, ProxyStatus.REVOKED) == set()
    assert allowed(Proxy, ProxyStatus.DECLINED) == set()


def test_allowed_transition_updates_and_appends_to_the_timeline(proxy, patient):
    transition(proxy, ProxyStatus.ACTIVE, actor=patient.user, reason="approved")
    assert proxy.status == ProxyStatus.ACTIVE
    assert Proxy.objects.get(pk=proxy.pk).status == ProxyStatus.ACTIVE
    event = timeline(proxy).get()
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        ProxyStatus.PENDING, ProxyStatus.ACTIVE, patient.user, "approved"
    )
    assert event.at is not None
    transition(proxy, ProxyStatus.REVOKED, actor=None)
    assert [(e.from_status, e.to_status) for e in timeline(proxy)] == [("pending", "active"), ("active", "revoked")]
    assert timeline(proxy).last().actor is None


def test_extra_changes_are_written_with_the_status(proxy, patient):
    from ihospital.accounts.services import give_consent

    consent = give_consent(actor=patient.user, patient=patient, kind="proxy")
    transition(proxy, ProxyStatus.ACTIVE, actor=patient.user, consent=consent)
    assert proxy.consent == consent
    assert Proxy.objects.get(pk=proxy.pk).consent_id == consent.pk


def test_a_transition_outside_the_table_is_refused(proxy, patient):
    transition(proxy, ProxyStatus.REVOKED, actor=patient.user)
    events = TimelineEvent.objects.count()
    with pytest.raises(Conflict) as exc, translation.override("en"):
        transition(proxy, ProxyStatus.ACTIVE, actor=patient.user)
    assert exc.value.code == "invalid_transition"
    assert exc.value.status == 409
    assert "revoked" in str(exc.value.message)  # says which status it is in
    assert Proxy.objects.get(pk=proxy.pk).status == ProxyStatus.REVOKED
    assert TimelineEvent.objects.count() == events


def test_a_stale_concurrent_transition_is_refused(proxy, patient):
    mine = Proxy.objects.get(pk=proxy.pk)
    theirs = Proxy.objects.get(pk=proxy.pk)  # loaded at the same time, both see "pending"
    transition(mine, ProxyStatus.ACTIVE, actor=patient.user)
    events = TimelineEvent.objects.count()
    with pytest.raises(Conflict) as exc:
        transition(theirs, ProxyStatus.DECLINED, actor=patient.user)
    assert exc.value.code == "stale_status"
    assert exc.value.status == 409
    assert Proxy.objects.get(pk=proxy.pk).status == ProxyStatus.ACTIVE
    assert theirs.status == ProxyStatus.PENDING  # the loser's object is left as it was
    assert TimelineEvent.objects.count() == events


def test_timeline_is_append_only(proxy, patient):
    transition(proxy, ProxyStatus.ACTIVE, actor=patient.user)
    with pytest.raises(TypeError):
        TimelineEvent.objects.update(reason="rewritten")
    with pytest.raises(TypeError):
        TimelineEvent.objects.all().delete()
    assert timeline(proxy).get().reason == ""


def test_conflict_reaches_the_api_as_409(client, patient):
    from tests.helpers import error_of, token_headers

    relative = PatientFactory()
    link = Proxy.objects.create(
        patient=patient, proxy_user=relative.user, relationship="child", requested_by=relative.user,
        status=ProxyStatus.DECLINED,
    )
    response = client.post(f"/api/proxies/{link.pk}/decline", headers=token_headers(patient.user))
    assert response.status_code == 409
    assert error_of(response)["code"] == "invalid_transition"
