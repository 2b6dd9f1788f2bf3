"""The back office shows schedules read-only and retires rules through the service."""

from __future__ import annotations

import pytest

from ihospital.scheduling.models import Slot
from tests.factories import TOTPDeviceFactory
from tests.helpers import verify_session
from tests.scheduling.factories import AdminUserFactory, RuleFactory, SlotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = AdminUserFactory(is_superuser=True)
    device = TOTPDeviceFactory(user=user)
    client.force_login(user)
    verify_session(client, device)
    return client


def test_changelists_render_and_nothing_is_editable(admin_client):
    rule = RuleFactory()
    SlotFactory(rule=rule, practitioner=rule.practitioner)
    for model in ("availabilityrule", "closure", "slot", "appointment"):
        response = admin_client.get(f"/admin/scheduling/{model}/")
        assert response.status_code == 200, model
        assert admin_client.get(f"/admin/scheduling/{model}/add/").status_code == 403
    slot = Slot.objects.get()
    response = admin_client.post(f"/admin/scheduling/slot/{slot.pk}/change/", {"booked": 1, "capacity": 1})
    assert response.status_code == 403
    slot.refresh_from_db()
    assert slot.booked == 0


def test_retire_action_uses_the_service(admin_client):
    rule = RuleFactory()
    response = admin_client.post("/admin/scheduling/availabilityrule/",
                                 {"action": "retire", "_selected_action": [rule.pk], "index": 0})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.active and rule.retired_by is not None
