"""Bindings: one active per openid and per user, idempotent bind, unbind (service and page), lookups, audit."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditEvent
from ihospital.wechat import bindings
from ihospital.wechat.models import Binding
from tests.factories import PatientFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

OPENID = "oSimulatorOpenid00000000001"
OTHER = "oSimulatorOpenid00000000002"


def test_bind_and_look_up_both_ways(settings):
    user = UserFactory()
    binding = bindings.bind(user=user, openid=OPENID, unionid="uUnion1", nickname="小王")
    assert binding.active and binding.appid == settings.WECHAT_APPID
    assert bindings.openid_for(user) == OPENID
    assert bindings.user_for_openid(OPENID) == user
    assert bindings.user_for_openid(OTHER) is None
    assert bindings.user_for_openid("") is None
    assert bindings.openid_for(UserFactory()) is None
    event = AuditEvent.objects.get(action="create", object_type="wechat.binding")
    assert event.actor == user and event.object_id == str(binding.pk)


def test_binding_the_same_pair_again_changes_nothing():
    user = UserFactory()
    first = bindings.bind(user=user, openid=OPENID)
    assert bindings.bind(user=user, openid=OPENID) == first
    assert Binding.objects.count() == 1


def test_an_openid_bound_to_someone_else_is_refused():
    bindings.bind(user=UserFactory(), openid=OPENID)
    with pytest.raises(Conflict) as caught:
        bindings.bind(user=UserFactory(), openid=OPENID)
    assert caught.value.code == "openid_bound"
    assert Binding.objects.count() == 1


def test_a_user_bound_to_another_openid_is_refused():
    user = UserFactory()
    bindings.bind(user=user, openid=OPENID)
    with pytest.raises(Conflict) as caught:
        bindings.bind(user=user, openid=OTHER)
    assert caught.value.code == "already_bound"
    assert bindings.openid_for(user) == OPENID


@pytest.mark.parametrize("openid", ["", "  ", "o<script>", "o" * 200, "o pen id"])
def test_an_invalid_openid_is_refused(openid):
    with pytest.raises(DomainError) as caught:
        bindings.bind(user=UserFactory(), openid=openid)
    assert caught.value.code == "invalid_openid"
    assert not Binding.objects.exists()


def test_the_database_holds_one_active_binding_per_openid_and_per_user():
    user, other = UserFactory(), UserFactory()
    Binding.objects.create(user=user, appid="wx1", openid=OPENID)
    with pytest.raises(IntegrityError), transaction.atomic():
        Binding.objects.create(user=other, appid="wx1", openid=OPENID)
    with pytest.raises(IntegrityError), transaction.atomic():
        Binding.objects.create(user=user, appid="wx1", openid=OTHER)


def test_unbind_keeps_history_and_allows_binding_again():
    user = UserFactory()
    bindings.bind(user=user, openid=OPENID)
    ended = bindings.unbind(actor=user)
    assert ended.unbound_at is not None
    assert bindings.openid_for(user) is None and bindings.user_for_openid(OPENID) is None
    assert AuditEvent.objects.filter(action="update", object_type="wechat.binding", actor=user).exists()
    # The WeChat identity is free: someone else (e.g. a new account of the same person) may bind it.
    newcomer = UserFactory()
    bindings.bind(user=newcomer, openid=OPENID)
    assert bindings.user_for_openid(OPENID) == newcomer
    assert Binding.objects.count() == 2


def test_unbind_without_binding_is_not_found():
    with pytest.raises(NotFound):
        bindings.unbind(actor=UserFactory())


def test_an_inactive_account_cannot_be_bound_or_found():
    user = UserFactory(is_active=False)
    with pytest.raises(DomainError):
        bindings.bind(user=user, openid=OPENID)
    active = UserFactory()
    bindings.bind(user=active, openid=OTHER)
    active.is_active = False
    active.save(update_fields=["is_active"])
    assert bindings.user_for_openid(OTHER) is None


def test_staff_may_bind_for_messages():
    doctor = StaffUserFactory()
    bindings.bind(user=doctor, openid=OPENID)
    assert bindings.openid_for(doctor) == OPENID


# ---- the page ---------------------------------------------------------------------------------------------------


def test_binding_page_shows_and_unbinds(client):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=OPENID, nickname="小王")
    client.force_login(patient.user)
    page = client.get("/wechat/binding/")
    assert page.status_code == 200 and b'data-testid="wechat-bound"' in page.content
    assert "小王" in page.content.decode()
    response = client.post("/wechat/binding/unbind/")
    assert response.status_code == 302 and response["Location"] == "/wechat/binding/"
    assert bindings.openid_for(patient.user) is None
    page = client.get("/wechat/binding/")
    assert b'data-testid="wechat-unbound"' in page.content
    assert b"/wechat/oauth/start/?next=/wechat/binding/" in page.content


def test_unbind_without_binding_answers_404_and_changes_nothing(client):
    patient = PatientFactory()
    client.force_login(patient.user)
    assert client.post("/wechat/binding/unbind/").status_code == 404


def test_unbind_needs_post_and_sign_in(client):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=OPENID)
    response = client.post("/wechat/binding/unbind/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(patient.user)
    assert client.get("/wechat/binding/unbind/").status_code == 405
    assert bindings.openid_for(patient.user) == OPENID


def test_unbind_is_csrf_protected():
    from django.test import Client

    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=OPENID)
    client = Client(enforce_csrf_checks=True)
    client.force_login(patient.user)
    assert client.post("/wechat/binding/unbind/").status_code == 403
    assert bindings.openid_for(patient.user) == OPENID
