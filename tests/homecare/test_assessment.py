"""Assessment before acceptance (assessing.claim, release, decide): who may claim a request, one assessor at a
time, what an acceptance or a decline needs, the consumables' list, and the assessor's chart access opening at
the claim and closing after the decision window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.transitions import timeline
from ihospital.directory.models import Title
from ihospital.homecare import assessing, booking, selectors
from ihospital.homecare.models import Assessment, RequestStatus
from ihospital.notifications.models import Notification
from ihospital.records.models import CareRelationship
from ihospital.records.selectors import access_of
from tests.factories import NurseFactory
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

GOOD = {"risk": "low", "home_suitable": True, "eligibility_confirmed": True}


def claimed(req, nurse):
    assessing.claim(actor=nurse, request_id=req.pk)
    req.refresh_from_db()
    return req


def refusal(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


# ---- claiming ---------------------------------------------------------------------------------------------------


def test_a_qualified_home_care_nurse_claims_a_request_and_becomes_its_assessor(elder, nurse):
    req = f.booked(elder)
    assessment = assessing.claim(actor=nurse, request_id=req.pk)
    req.refresh_from_db()
    assert req.status == RequestStatus.ASSESSING
    assert assessment.nurse == nurse and assessment.accepted is None
    assert selectors.request_for(nurse, req.pk)[1] == "assessor"
    waiting, mine = selectors.assessment_worklist(nurse)
    assert req not in waiting and list(mine) == [req]
    assert [e.to_status for e in timeline(req)] == [RequestStatus.ASSESSING]


@pytest.mark.parametrize(("code", "nurse_kw", "why"), [
    # PICC care needs a supervisor nurse (主管护师): a nurse practitioner (护师) is one rank too low.
    ("picc_care", {"title": Title.NURSE_PRACTITIONER}, "title_too_low"),
    # Ostomy care needs the wound and ostomy specialty.
    ("ostomy_care", {"skills": ("picc",)}, "skill_missing"),
    # Home nursing at all needs five years of practice.
    ("wound_dressing", {"years": 3}, "too_few_years"),
    # A nurse (护士) may not nurse at homes whatever the service.
    ("wound_dressing", {"title": Title.NURSE}, "title_too_low"),
])
def test_an_unqualified_nurse_may_not_claim(elder, code, nurse_kw, why):
    req = f.booked(elder, code=code)
    unqualified = f.home_nurse(**nurse_kw)
    assert assessing.qualification_refusal(unqualified, req.service) == why
    with pytest.raises(Forbidden) as caught:
        assessing.claim(actor=unqualified, request_id=req.pk)
    assert caught.value.code == "nurse_not_qualified"
    req.refresh_from_db()
    assert req.status == RequestStatus.REQUESTED and not Assessment.objects.exists()
    assert access_of(unqualified, elder) is None


def test_a_nurse_not_registered_for_home_nursing_may_not_claim(elder):
    # A ward nurse: title and years enough, but no home-care profile (skills, start point) at the hospital.
    ward_nurse = NurseFactory(title=Title.SUPERVISOR_NURSE).user
    req = f.booked(elder)
    assert assessing.qualification_refusal(ward_nurse, req.service) == "not_home_care"
    assert refusal(lambda: assessing.claim(actor=ward_nurse, request_id=req.pk)) == "nurse_not_qualified"
    # A nurse whose licence the hospital has not verified is no home-care nurse either.
    unverified = f.home_nurse()
    unverified.practitioner.verified_at = None
    unverified.practitioner.save()
    assert refusal(lambda: assessing.claim(actor=unverified, request_id=req.pk)) == "nurse_not_qualified"


def test_only_nurses_claim_and_an_unknown_request_is_not_found(elder, dispatcher):
    req = f.booked(elder)
    with pytest.raises(NotFound):
        assessing.claim(actor=dispatcher, request_id=req.pk)
    with pytest.raises(NotFound):
        assessing.claim(actor=elder.user, request_id=req.pk)
    with pytest.raises(NotFound):
        assessing.claim(actor=f.home_nurse(), request_id=req.pk + 999)


def test_a_second_claimer_gets_a_conflict(elder, nurse, other_nurse):
    req = f.booked(elder)
    assessing.claim(actor=nurse, request_id=req.pk)
    with pytest.raises(Conflict):
        assessing.claim(actor=other_nurse, request_id=req.pk)
    assert Assessment.objects.get().nurse == nurse
    assert access_of(other_nurse, elder) is None


def test_release_returns_the_request_to_the_worklist_and_closes_the_chart(elder, nurse, other_nurse):
    req = claimed(f.booked(elder), nurse)
    assert access_of(nurse, elder) == "clinician"
    assessing.release(actor=nurse, request_id=req.pk, reason="需要专科护士")
    req.refresh_from_db()
    assert req.status == RequestStatus.REQUESTED
    assert access_of(nurse, elder) is None
    with pytest.raises(NotFound):
        selectors.request_for(nurse, req.pk)
    # Someone else may claim it now; and the first nurse again after that one released it.
    claimed(req, other_nurse)
    assessing.release(actor=other_nurse, request_id=req.pk)
    claimed(req, nurse)
    assert access_of(nurse, elder) == "clinician"
    assert Assessment.objects.get().nurse == nurse


def test_a_request_cancelled_while_being_assessed_closes_the_chart_to_its_assessor(elder, nurse):
    req = claimed(f.booked(elder), nurse)
    booking.cancel(actor=elder.user, request_id=req.pk, reason="家人已安排")
    assert access_of(nurse, elder) is None
    with pytest.raises(NotFound):
        selectors.request_for(nurse, req.pk)


def test_release_is_only_for_the_assessor_of_a_request_being_assessed(elder, nurse, other_nurse):
    req = f.booked(elder)
    with pytest.raises(NotFound):
        assessing.release(actor=nurse, request_id=req.pk)
    claimed(req, nurse)
    with pytest.raises(NotFound):
        assessing.release(actor=other_nurse, request_id=req.pk)


# ---- deciding ---------------------------------------------------------------------------------------------------


def test_accepting_records_the_assessment_prices_the_consumables_and_tells_the_patient(elder, nurse, relative):
    req = claimed(f.booked(elder), nurse)
    assessing.decide(actor=nurse, request_id=req.pk, accept=True, **GOOD, two_nurses=False,
                     consumables=[{"code": "dressing_pack", "qty": 2}], notes="家中整洁，光线充足")
    req.refresh_from_db()
    assessment = req.assessment
    assert req.status == RequestStatus.ACCEPTED and req.consumables_fen == 2 * 1500
    assert assessment.accepted is True and assessment.risk == "low" and assessment.decided_at
    assert [c["code"] for c in assessment.consumables] == ["dressing_pack"] and assessment.consumables[0]["qty"] == 2
    told = Notification.objects.filter(kind="homecare.accepted")
    assert {n.user for n in told} == {elder.user, relative}


@pytest.mark.parametrize(("missing", "code"), [
    ({"risk": ""}, "risk_required"),
    ({"risk": "extreme"}, "risk_required"),
    ({"home_suitable": None}, "home_not_suitable"),
    ({"home_suitable": False}, "home_not_suitable"),
    ({"eligibility_confirmed": False}, "eligibility_unconfirmed"),
])
def test_accepting_needs_risk_a_suitable_home_and_confirmed_eligibility(elder, nurse, missing, code):
    req = claimed(f.booked(elder), nurse)
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=True,
                                            **(GOOD | missing))) == code
    req.refresh_from_db()
    assert req.status == RequestStatus.ASSESSING and req.assessment.decided_at is None


def test_a_service_that_needs_a_doctors_order_needs_the_order_noted(elder, nurse):
    req = claimed(f.booked(elder, code="infusion"), nurse)
    assert req.service.needs_doctor_order
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=True, **GOOD,
                                            notes="  ")) == "order_reference_required"
    assessing.decide(actor=nurse, request_id=req.pk, accept=True, **GOOD, notes="输液医嘱：张医生 2024-11-20")
    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED


def test_a_high_risk_first_visit_needs_two_nurses(elder, nurse):
    req = claimed(f.booked(elder), nurse)
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=True,
                                            **(GOOD | {"risk": "high"}))) == "two_nurses_for_high_risk"
    assessing.decide(actor=nurse, request_id=req.pk, accept=True, **(GOOD | {"risk": "high"}), two_nurses=True)
    req.refresh_from_db()
    assert req.assessment.two_nurses and req.assessment.risk == "high"


@pytest.mark.parametrize("chosen", [
    [{"code": "foam_dressing", "qty": 1}],  # pressure-ulcer care's, not wound dressing's
    [{"code": "dressing_pack", "qty": 21}],
    [{"code": "dressing_pack", "qty": -1}],
    [{"code": "dressing_pack", "qty": "two"}],
])
def test_consumables_come_from_the_services_list(elder, nurse, chosen):
    req = claimed(f.booked(elder), nurse)
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=True, **GOOD,
                                            consumables=chosen)) == "invalid_consumables"
    req.refresh_from_db()
    assert req.status == RequestStatus.ASSESSING


def test_declining_needs_a_reason_and_other_needs_a_note(elder, nurse):
    req = claimed(f.booked(elder), nurse)
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=False)) == \
        "decline_reason_required"
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=False,
                                            decline_reason="because")) == "decline_reason_required"
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=False,
                                            decline_reason="other")) == "decline_note_required"
    assessing.decide(actor=nurse, request_id=req.pk, accept=False, decline_reason="unstable",
                     notes="血氧偏低，建议来院")
    req.refresh_from_db()
    assert req.status == RequestStatus.DECLINED and req.assessment.decline_reason == "unstable"
    assert req.status_reason == "血氧偏低，建议来院" and req.consumables_fen == 0
    assert Notification.objects.filter(user=elder.user, kind="homecare.declined").exists()
    # Decided once: a second decision is refused.
    assert refusal(lambda: assessing.decide(actor=nurse, request_id=req.pk, accept=True, **GOOD)) == \
        "not_assessing"


# ---- the chart and who sees the request ------------------------------------------------------------------------


def test_the_assessors_chart_access_opens_at_the_claim_and_ends_after_the_decision_window(
        elder, nurse, settings, monkeypatch):
    settings.HOMECARE_CARE_ACCESS_HOURS = 24
    req = f.booked(elder)
    assert access_of(nurse, elder) is None
    claimed(req, nurse)
    assert access_of(nurse, elder) == "clinician"
    assessing.decide(actor=nurse, request_id=req.pk, accept=True, **GOOD)
    decided = Assessment.objects.get().decided_at
    relation = CareRelationship.objects.get(clinician=nurse, patient=elder, source_id=f"assess:{req.pk}")
    assert relation.ends_at == decided + timedelta(hours=24)
    # Still open within the window (to answer the dispatcher's or the patient's questions) ...
    assert access_of(nurse, elder) == "clinician"
    assert selectors.request_for(nurse, req.pk)[1] == "assessor"
    # ... and closed after it: the chart and the request.
    later = decided + timedelta(hours=24, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert access_of(nurse, elder) is None
    with pytest.raises(NotFound):
        selectors.request_for(nurse, req.pk)


def test_a_stranger_nurse_cannot_open_or_decide_the_request(elder, nurse, other_nurse):
    req = claimed(f.booked(elder), nurse)
    with pytest.raises(NotFound):
        selectors.request_for(other_nurse, req.pk)
    with pytest.raises(NotFound):
        assessing.decide(actor=other_nurse, request_id=req.pk, accept=True, **GOOD)
    req.refresh_from_db()
    assert req.status == RequestStatus.ASSESSING


def test_the_worklist_is_for_home_care_nurses_only(elder, dispatcher):
    req = f.booked(elder)
    assert list(selectors.assessment_worklist(f.home_nurse())[0]) == [req]
    assert not selectors.assessment_worklist(dispatcher)[0].exists()
    assert not selectors.assessment_worklist(f.home_nurse(years=2))[0].exists()
    assert not selectors.assessment_worklist(elder.user)[0].exists()
