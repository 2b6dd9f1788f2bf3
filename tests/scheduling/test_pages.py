"""The availability page: a doctor publishes and retires weekly times and adds closures; an administrator does so
for any online doctor and closes the whole hospital; refusals are shown in the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.scheduling.models import AvailabilityRule, Closure
from tests.factories import DepartmentFactory, DoctorFactory, TOTPDeviceFactory
from tests.helpers import verify_session
from tests.scheduling.factories import RuleFactory

pytestmark = pytest.mark.django_db

PAGE = "/scheduling/availability/"


def sign_in(client, user):
    device = user.totpdevice_set.first() or TOTPDeviceFactory(user=user)
    client.force_login(user)
    verify_session(client, device)
    return client


@pytest.fixture
def online_doc(db):
    return DoctorFactory(departments=[DepartmentFactory()])


def rule_form(doctor, **changes) -> dict:
    data = {
        "department_id": doctor.departments.first().pk, "weekdays": ["0", "2"], "start_time": "08:00",
        "end_time": "12:00", "slot_minutes": "15", "capacity": "1", "mode": "text",
        "valid_from": timezone.localdate().isoformat(), "valid_until": "",
    }
    data.update(changes)
    return data


def test_a_doctor_publishes_several_weekdays_at_once(client, online_doc):
    sign_in(client, online_doc.user)
    response = client.post(PAGE + "rules/", rule_form(online_doc))
    assert response.status_code == 302
    assert sorted(AvailabilityRule.objects.filter(practitioner=online_doc).values_list("weekday", flat=True)) == [0, 2]
    page = client.get(PAGE).content.decode()
    assert page.count('data-testid="rule-') == 2


def test_an_overlap_on_one_weekday_publishes_none_and_says_which(client, online_doc):
    RuleFactory(practitioner=online_doc, weekday=2, start_time="10:00", end_time="11:00")
    sign_in(client, online_doc.user)
    response = client.post(PAGE + "rules/", rule_form(online_doc))
    assert response.status_code == 409
    assert AvailabilityRule.objects.filter(practitioner=online_doc).count() == 1
    assert 'class="alert alert-error"' in response.content.decode()


def test_invalid_hours_are_shown_on_the_form(client, online_doc):
    sign_in(client, online_doc.user)
    response = client.post(PAGE + "rules/", rule_form(online_doc, start_time="12:00", end_time="08:00"))
    assert response.status_code == 400
    assert 'class="field has-error"' in response.content.decode()
    assert not AvailabilityRule.objects.exists()


def test_retiring_a_rule(client, online_doc):
    rule = RuleFactory(practitioner=online_doc)
    sign_in(client, online_doc.user)
    assert client.post(PAGE + f"rules/{rule.pk}/retire/").status_code == 302
    rule.refresh_from_db()
    assert not rule.active


def test_a_doctor_cannot_retire_another_doctors_rule(client, online_doc):
    other = RuleFactory(practitioner=DoctorFactory(departments=[DepartmentFactory()]))
    sign_in(client, online_doc.user)
    response = client.post(PAGE + f"rules/{other.pk}/retire/")
    assert response.status_code == 403
    other.refresh_from_db()
    assert other.active


def test_a_doctor_adds_a_closure_of_their_own_only(client, online_doc):
    sign_in(client, online_doc.user)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.post(PAGE + "closures/", {"date": tomorrow, "reason": "学术会议", "whole_hospital": "on"})
    assert response.status_code == 302
    closure = Closure.objects.get()
    assert closure.practitioner == online_doc  # the hospital-wide box is not offered to doctors, nor honoured


def test_a_closure_in_the_past_is_refused_on_the_field(client, online_doc):
    sign_in(client, online_doc.user)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(PAGE + "closures/", {"date": yesterday, "reason": "x"})
    assert response.status_code == 400 and not Closure.objects.exists()


def test_an_admin_manages_any_doctor_and_closes_the_hospital(client, hospital_admin, online_doc):
    sign_in(client, hospital_admin)
    page = client.get(PAGE).content.decode()
    assert f'value="{online_doc.pk}"' in page
    response = client.post(PAGE + "rules/", {**rule_form(online_doc), "practitioner": online_doc.pk})
    assert response.status_code == 302 and response["Location"] == f"{PAGE}?practitioner={online_doc.pk}"
    assert AvailabilityRule.objects.filter(practitioner=online_doc, created_by=hospital_admin).count() == 2
    holiday = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = client.post(PAGE + "closures/", {"date": holiday, "reason": "国庆节", "whole_hospital": "on"})
    assert response.status_code == 302
    assert Closure.objects.get().practitioner is None


def test_a_doctor_who_may_not_practise_online_sees_why_and_no_form(client):
    junior = DoctorFactory(departments=[DepartmentFactory()],
                           independent_practice_since=timezone.localdate() - timedelta(days=400))
    sign_in(client, junior.user)
    page = client.get(PAGE).content.decode()
    assert 'data-testid="practice-refusal"' in page and 'data-testid="add-rule"' not in page
    assert client.post(PAGE + "rules/", rule_form(junior)).status_code == 403
    assert not AvailabilityRule.objects.exists()


def test_patients_cannot_open_the_page(client, patient):
    client.force_login(patient.user)
    assert client.get(PAGE).status_code == 403
