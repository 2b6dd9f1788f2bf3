"""The notification preferences page: the defaults shown (channels the user has, every category, the default quiet
hours), saving through ``preferences.set_preferences`` (audited), refusals shown with a 400 and nothing changed,
security alarms never offered for muting, a channel the user lacks said so."""

from __future__ import annotations

import re
from datetime import time

import pytest
from django.test import Client

from ihospital.core.models import AuditEvent
from ihospital.notifications.models import Preference
from tests.factories import PatientFactory
from tests.notifications.test_pages import page, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(db):
    user = PatientFactory().user
    user.email = "li@example.com"
    user.save(update_fields=["email"])
    return user


def form(**changes) -> dict:
    data = {"wechat": "on", "sms": "on", "email": "on", "categories": ["visit", "prescription", "order"],
            "quiet_start": "22:30", "quiet_end": "06:30"}
    return {k: v for k, v in (data | changes).items() if v is not None}


def test_the_page_shows_the_defaults(patient, settings):
    settings.NOTIFY_QUIET_HOURS = "22:00-07:00"
    html = page(signed_in(patient).get("/notifications/preferences/"))
    assert 'name="quiet_start"' in html and 'value="22:00"' in html and 'value="07:00"' in html
    assert 'data-testid="category-visit"' in html and 'data-testid="category-homecare"' in html
    assert 'data-testid="category-security"' not in html  # never switched off
    assert 'data-testid="missing-wechat"' in html  # not bound
    assert 'data-testid="missing-sms"' not in html and 'data-testid="missing-email"' not in html
    assert html.count('checked') >= 3 + 8  # three channels and every mutable category on


def test_saving_mutes_categories_switches_channels_and_sets_quiet_hours(patient):
    client = signed_in(patient)
    response = client.post("/notifications/preferences/", form(sms=None))
    assert response.status_code == 302 and response["Location"] == "/notifications/preferences/"
    pref = Preference.objects.get(user=patient)
    assert (pref.wechat, pref.sms, pref.email) == (True, False, True)
    assert set(pref.muted_categories) == {"payment", "diagnostics", "homecare", "teleconsult", "other"}
    assert (pref.quiet_start, pref.quiet_end) == (time(22, 30), time(6, 30))
    assert AuditEvent.objects.filter(actor=patient, object_type="notifications.preference").exists()
    html = page(client.get("/notifications/preferences/"))
    assert 'value="22:30"' in html
    assert re.search(r'<input[^>]*name="sms"[^>]*checked', html) is None
    assert re.search(r'<input[^>]*name="wechat"[^>]*checked', html)


def test_clearing_the_quiet_hours(patient):
    client = signed_in(patient)
    assert client.post("/notifications/preferences/", form(quiet_start="", quiet_end="")).status_code == 302
    pref = Preference.objects.get(user=patient)
    assert pref.quiet_start is None and pref.quiet_end is None


@pytest.mark.parametrize(
    "changes",
    [
        {"quiet_start": "22:00", "quiet_end": ""},
        {"quiet_start": "08:00", "quiet_end": "08:00"},
        {"quiet_start": "25:99"},
        {"categories": ["visit", "security"]},
        {"categories": ["nonsense"]},
    ],
)
def test_bad_input_is_refused_with_400_and_changes_nothing(patient, changes):
    client = signed_in(patient)
    response = client.post("/notifications/preferences/", form(**changes))
    assert response.status_code == 400
    assert 'role="alert"' in page(response)
    assert not Preference.objects.filter(user=patient).exists()


def test_only_for_the_signed_in():
    assert Client().get("/notifications/preferences/").status_code == 302
    assert Client().post("/notifications/preferences/", form()).status_code == 302
    assert not Preference.objects.exists()


def test_in_english(patient):
    patient.language = "en"
    patient.save(update_fields=["language"])
    html = page(signed_in(patient).get("/notifications/preferences/"))
    assert "Notification settings" in html and "Quiet hours" in html and "Security alarms are always sent." in html
