"""The back office of home nursing: the catalogue and the nurses' profiles are edited here (with the catalogue
loader's checks; nothing deleted), shifts, blocks, alarms and requests are read-only (their services audit them)."""

from __future__ import annotations

import json

import pytest

from ihospital.homecare.models import Alarm, Block, NurseProfile, NursingRequest, NursingService, Shift
from tests.factories import TOTPDeviceFactory
from tests.helpers import verify_session
from tests.homecare import factories as f
from tests.scheduling.factories import AdminUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = AdminUserFactory(is_superuser=True, language="en")  # the messages checked are the English ones
    device = TOTPDeviceFactory(user=user)
    client.force_login(user)
    verify_session(client, device)
    return client


@pytest.fixture
def some_of_everything(elder, nurse, dispatcher, admin_user):
    from ihospital.homecare import assessing, safety

    visit = f.today_visit(elder, nurse)
    safety.raise_alarm(token=safety.alarm_token(nurse))
    assessing.block(actor=admin_user, patient_id=f.eligible_patient().pk, reason="辱骂护士并推搡")
    return visit


def service_form(service: NursingService, **changes) -> dict:
    data = {field: getattr(service, field) for field in (
        "name_zh", "name_en", "description_zh", "description_en", "duration_minutes", "price_fen", "min_title",
        "min_years", "skill", "position")}
    data |= {"eligible_groups": json.dumps(service.eligible_groups),
             "consumables": json.dumps(service.consumables, ensure_ascii=False)}
    if service.active:
        data["active"] = "on"
    if service.needs_doctor_order:
        data["needs_doctor_order"] = "on"
    return data | changes


def test_every_changelist_renders(admin_client, some_of_everything):
    for model in ("nursingservice", "nurseprofile", "shift", "block", "alarm", "nursingrequest"):
        assert admin_client.get(f"/admin/homecare/{model}/").status_code == 200, model
    assert admin_client.get(f"/admin/homecare/nursingrequest/{some_of_everything.request_id}/change/"
                            ).status_code == 200


def test_the_workflows_records_are_read_only(admin_client, some_of_everything):
    rows = {"shift": Shift.objects.get(), "block": Block.objects.get(), "alarm": Alarm.objects.get(),
            "nursingrequest": NursingRequest.objects.get()}
    for model, row in rows.items():
        assert admin_client.get(f"/admin/homecare/{model}/add/").status_code == 403, model
        assert admin_client.post(f"/admin/homecare/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    shift = rows["shift"]
    assert admin_client.post(f"/admin/homecare/shift/{shift.pk}/change/", {"starts": "06:00"}).status_code == 403
    assert Shift.objects.get().starts == shift.starts
    assert Block.objects.count() == Alarm.objects.count() == NursingRequest.objects.count() == 1


def test_a_service_is_edited_with_the_catalogues_checks_and_never_deleted(admin_client):
    f.load_catalogue()
    service = NursingService.objects.get(code="blood_draw")
    url = f"/admin/homecare/nursingservice/{service.pk}/change/"

    bad_group = admin_client.post(url, service_form(service, eligible_groups='["elderly", "athletes"]'))
    assert bad_group.status_code == 200 and "Not a valid service" in bad_group.content.decode()
    bad_consumable = admin_client.post(url, service_form(service, consumables='[{"code": "x", "qty": 1}]'))
    assert bad_consumable.status_code == 200
    zero = admin_client.post(url, service_form(service, duration_minutes=0))
    assert zero.status_code == 200
    for refused in (bad_group, bad_consumable, zero):
        assert "errornote" in refused.content.decode()
    after = NursingService.objects.get(pk=service.pk)
    assert (after.eligible_groups, after.consumables, after.duration_minutes) == (
        service.eligible_groups, service.consumables, service.duration_minutes)

    saved = admin_client.post(url, service_form(service, price_fen=5500, active=""))
    assert saved.status_code == 302
    service.refresh_from_db()
    assert (service.price_fen, service.active, service.code) == (5500, False, "blood_draw")

    assert admin_client.post(f"/admin/homecare/nursingservice/{service.pk}/delete/", {"post": "yes"}
                             ).status_code == 403
    assert NursingService.objects.filter(pk=service.pk).exists()


def test_the_list_edits_price_and_retirement_with_the_same_checks(admin_client):
    f.load_catalogue()
    service = NursingService.objects.get(code="injection")

    def edit(**values):
        form = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(service.pk),
                "form-0-duration_minutes": str(service.duration_minutes), "form-0-price_fen": str(service.price_fen),
                "form-0-position": str(service.position), "_save": "Save"}
        if service.active:
            form["form-0-active"] = "on"
        for key, value in values.items():
            form.pop(f"form-0-{key}", None)
            if value is not None:
                form[f"form-0-{key}"] = value
        return admin_client.post("/admin/homecare/nursingservice/", form)

    refused = edit(price_fen="0")
    assert refused.status_code == 200 and "A service has a price." in refused.content.decode()
    assert NursingService.objects.get(pk=service.pk).price_fen == service.price_fen
    assert edit(price_fen="6500", active=None).status_code == 302
    service.refresh_from_db()
    assert (service.price_fen, service.active) == (6500, False)


def test_a_nurses_profile_takes_known_skills_only(admin_client, nurse):
    profile = NurseProfile.objects.get(user=nurse)
    url = f"/admin/homecare/nurseprofile/{profile.pk}/change/"
    form = {"user": nurse.pk, "base_label": "医院", "base_latitude": 37.857, "base_longitude": 112.559,
            "phone": profile.phone}
    assert admin_client.post(url, form | {"skills": '["juggling"]'}).status_code == 200
    assert admin_client.post(url, form | {"skills": '["wound_ostomy"]', "base_latitude": 137}).status_code == 200
    assert admin_client.post(url, form | {"skills": '["maternal_infant"]'}).status_code == 302
    profile.refresh_from_db()
    assert profile.skills == ["maternal_infant"]
    assert admin_client.post(f"/admin/homecare/nurseprofile/{profile.pk}/delete/", {"post": "yes"}
                             ).status_code == 403
