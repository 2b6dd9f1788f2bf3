"""The back office of remote consultation: tariffs are added and edited (a positive fee; one a request has copied
is read-only; none deleted); requests, opinions, reports, sessions and escalations are read-only."""

from __future__ import annotations

import pytest

from ihospital.teleconsult.models import Tariff
from tests.factories import TOTPDeviceFactory
from tests.helpers import verify_session
from tests.scheduling.factories import AdminUserFactory
from tests.teleconsult import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = AdminUserFactory(is_superuser=True, language="en")
    client.force_login(user)
    verify_session(client, TOTPDeviceFactory(user=user))
    return client


def test_add_a_tariff_and_refuse_a_zero_fee(admin_client):
    facility = f.PartnerFacilityFactory()
    data = {"facility": facility.pk, "urgency": "urgent", "mode": "live", "fee_fen": "120000",
            "valid_from": "2026-01-01"}
    assert admin_client.post("/admin/teleconsult/tariff/add/", {**data, "fee_fen": "0"}).status_code == 200
    assert not Tariff.objects.exists()
    assert admin_client.post("/admin/teleconsult/tariff/add/", data).status_code == 302
    assert Tariff.objects.get().fee_fen == 120000


def test_a_used_tariff_is_read_only_and_nothing_is_deleted(admin_client, cardiology):
    consult = f.submitted_request(department=cardiology)
    used = consult.tariff
    page = admin_client.get(f"/admin/teleconsult/tariff/{used.pk}/change/").content.decode()
    assert 'name="fee_fen"' not in page
    assert admin_client.get(f"/admin/teleconsult/tariff/{used.pk}/delete/").status_code == 403
    listed = admin_client.get("/admin/teleconsult/consultrequest/")
    assert listed.status_code == 200 and consult.number in listed.content.decode()
    assert admin_client.get(f"/admin/teleconsult/consultrequest/{consult.pk}/change/").status_code == 200
    assert admin_client.get("/admin/teleconsult/consultrequest/add/").status_code == 403
