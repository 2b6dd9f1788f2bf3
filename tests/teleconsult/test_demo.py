"""The demo's consultations: the coordinator's login, the partner hospital's tariffs, one urgent request waiting
on the board (consent given, an ECG attached) and one signed report waiting for the referrer; loading twice adds
nothing."""

from __future__ import annotations

import pytest

from ihospital.accounts.models import Role, User
from ihospital.teleconsult.models import ConsultRequest, Status, Tariff
from ihospital.web.demo import story

pytestmark = pytest.mark.django_db


def test_the_demo_tells_the_consultation_story():
    logins = story.load()
    assert any(login.login == "coord.lin" and login.role == Role.COORDINATOR for login in logins)
    assert User.objects.get(username="coord.lin").role == Role.COORDINATOR
    assert Tariff.objects.filter(facility__code="demo-partner").count() == 6
    requests = {r.status: r for r in ConsultRequest.objects.filter(referring_doctor__username="dr.chen")}
    assert set(requests) == {Status.SUBMITTED, Status.REPORTED}
    waiting = requests[Status.SUBMITTED]
    assert waiting.urgency == "urgent" and waiting.consent is not None and waiting.attachments.count() == 1
    reported = requests[Status.REPORTED]
    assert reported.report.lead.username == "dr.wang" and reported.fee_fen == 30000
    assert reported.assignments.filter(expert__username="dr.guo", role="member").exists()
    story.load()
    assert ConsultRequest.objects.count() == 2 and Tariff.objects.count() == 6
