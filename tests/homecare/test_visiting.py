"""The visit through ``visiting``: set out, check in and out with and without location (flagged, never refused),
the care record's validation, the EVV facts, the check-on-nurse task, the nurse's access window, the patient's
confirmation, corrections with a supervisor's approval, and the review of flagged visits."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.directory.models import Title
from ihospital.homecare import dispatch, selectors, visiting
from ihospital.homecare.models import (
    Assessment,
    CareRecord,
    Correction,
    CorrectionStatus,
    NurseVisit,
    RequestStatus,
)
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

FAR = (37.8700, 112.5200)  # about 3.7 km from the address


def code_of(excinfo) -> str:
    return excinfo.value.code


@pytest.fixture
def visit(elder, nurse):
    return f.today_visit(elder, nurse)


def two_nurse_visit(patient, nurse):
    """Today's visit whose assessment asked for two nurses (high risk), scheduled with the first nurse only."""
    req = f.booked(patient)
    f.accepted(req, nurse, risk="high", two_nurses=True)
    type(req).objects.filter(pk=req.pk).update(preferred_date=timezone.localdate(), window_start=time(0, 0),
                                               window_end=time(23, 0))
    req.refresh_from_db()
    by = f.dispatcher()
    f.shift(nurse, req.preferred_date, "00:00", "23:59", by=by)
    return f.scheduled(req, nurse, start=f"{max(timezone.localtime().hour - 1, 0):02d}:00", by=by), by


def assessed_long_ago(visit, days: int = 4) -> None:
    """The nurse assessed this request too; move the decision back so that only the visit's window counts."""
    Assessment.objects.filter(request_id=visit.request_id).update(
        decided_at=timezone.now() - timedelta(days=days))


def record(nurse, visit, **kw):
    values = {"vitals": {"systolic": 128, "pulse": 72}, "procedure_notes": "伤口清洁干燥，已换药",
              "consumables_used": [{"code": "dressing_pack", "qty": 1}]} | kw
    return visiting.save_record(actor=nurse, visit_id=visit.pk, **values)


# ---- setting out ------------------------------------------------------------------------------------------------


def test_set_out_only_by_the_assigned_nurse_and_only_on_the_day(elder, nurse, other_nurse, visit):
    with pytest.raises(NotFound):
        visiting.set_out(actor=other_nurse, visit_id=visit.pk)
    tomorrow = f.scheduled(f.accepted(f.booked(f.eligible_patient()), nurse), nurse)
    with pytest.raises(Conflict) as excinfo:
        visiting.set_out(actor=nurse, visit_id=tomorrow.pk)
    assert code_of(excinfo) == "not_today"
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    visit.refresh_from_db()
    assert visit.request.status == RequestStatus.EN_ROUTE and visit.set_out_at is not None
    with pytest.raises(Conflict):  # twice: no longer scheduled
        visiting.set_out(actor=nurse, visit_id=visit.pk)


def test_a_two_nurse_visit_waits_for_the_second_nurse(elder, nurse, other_nurse):
    visit, by = two_nurse_visit(elder, nurse)
    with pytest.raises(Conflict) as excinfo:
        visiting.set_out(actor=nurse, visit_id=visit.pk)
    assert code_of(excinfo) == "second_nurse_required"
    f.shift(other_nurse, visit.day, "00:00", "23:59", by=by)
    dispatch.set_second_nurse(actor=by, request_id=visit.request_id, nurse_id=other_nurse.pk)
    assert visiting.set_out(actor=nurse, visit_id=visit.pk).request.status == RequestStatus.EN_ROUTE


# ---- checking in ------------------------------------------------------------------------------------------------


def test_check_in_at_the_address_is_not_flagged(nurse, visit):
    visit = f.in_service(visit, nurse)
    assert visit.request.status == RequestStatus.IN_SERVICE and not visit.flagged
    assert visit.check_in_distance_m < 50 and visit.check_in_accuracy_m == 15


def test_check_in_far_away_is_flagged_with_the_distance_not_refused(nurse, visit):
    visit = f.in_service(visit, nurse, where=FAR)
    assert visit.request.status == RequestStatus.IN_SERVICE
    assert visit.flagged and 3000 < visit.check_in_distance_m < 5000
    [reason] = visit.flag_reasons
    assert reason == f"check_in_far:{int(visit.check_in_distance_m)}m"


def test_check_in_without_location_is_flagged_not_refused(nurse, visit):
    visit = f.in_service(visit, nurse, where=None)
    assert visit.request.status == RequestStatus.IN_SERVICE
    assert visit.flagged and visit.flag_reasons == ["check_in_without_location"]
    assert visit.check_in_latitude is None and visit.check_in_distance_m is None


@pytest.mark.parametrize("latitude, longitude", [("north", "1"), ("91", "112"), ("37", "181")])
def test_nonsense_coordinates_are_refused(nurse, visit, latitude, longitude):
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    with pytest.raises(DomainError) as excinfo:
        visiting.check_in(actor=nurse, visit_id=visit.pk, latitude=latitude, longitude=longitude)
    assert code_of(excinfo) == "invalid_coordinates"


def test_check_in_before_setting_out_is_refused(nurse, other_nurse, visit):
    with pytest.raises(Conflict):
        visiting.check_in(actor=nurse, visit_id=visit.pk)
    with pytest.raises(NotFound):
        visiting.check_in(actor=other_nurse, visit_id=visit.pk)


def test_the_overrun_check_is_enqueued_at_check_in(nurse, visit, settings, django_capture_on_commit_callbacks):
    settings.HOMECARE_OVERRUN_MINUTES = 45
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    with django_capture_on_commit_callbacks(execute=True):
        visiting.check_in(actor=nurse, visit_id=visit.pk, latitude=f.ADDRESS_LATLNG[0],
                          longitude=f.ADDRESS_LATLNG[1])
    visit.refresh_from_db()
    [task] = DBTaskResult.objects.filter(task_path="ihospital.homecare.tasks.check_overrun")
    duration = visit.request.service.duration_minutes
    assert task.run_after == visit.checked_in_at + timedelta(minutes=duration + 45)
    assert task.args_kwargs["args"] == [visit.pk]


# ---- the care record --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(visiting.VITALS))
def test_each_vital_sign_out_of_range_is_refused(nurse, visit, name):
    f.in_service(visit, nurse)
    low, high = visiting.VITALS[name]
    for value in (low - 1 if isinstance(low, int) else low - 0.1, high + 1, "abc"):
        with pytest.raises(DomainError) as excinfo:
            record(nurse, visit, vitals={name: value})
        assert code_of(excinfo) == "invalid_vitals" and name in excinfo.value.fields
    record(nurse, visit, vitals={name: low, "pain": 0})
    assert CareRecord.objects.get(visit=visit).vitals[name] == low


def test_an_unknown_measurement_is_refused(nurse, visit):
    f.in_service(visit, nurse)
    with pytest.raises(DomainError) as excinfo:
        record(nurse, visit, vitals={"mood": 5})
    assert code_of(excinfo) == "invalid_vitals"


@pytest.mark.parametrize("used", [[{"code": "scalpel", "qty": 1}], [{"code": "dressing_pack", "qty": 21}],
                                  [{"code": "dressing_pack", "qty": -1}], [{"code": "dressing_pack", "qty": "x"}]])
def test_consumables_come_from_the_list_within_limits(nurse, visit, used):
    f.in_service(visit, nurse)
    with pytest.raises(DomainError) as excinfo:
        record(nurse, visit, consumables_used=used)
    assert code_of(excinfo) == "invalid_consumables"
    assert not CareRecord.objects.filter(visit=visit).exists()


@pytest.mark.parametrize("service, days, code", [("no_such_service", 3, "service_not_found"),
                                                 ("wound_dressing", 0, "invalid_follow_up"),
                                                 ("wound_dressing", 91, "invalid_follow_up"),
                                                 ("wound_dressing", "soon", "invalid_follow_up")])
def test_a_follow_up_suggestion_is_validated(nurse, visit, service, days, code):
    f.in_service(visit, nurse)
    with pytest.raises(DomainError) as excinfo:
        record(nurse, visit, next_service_code=service, next_in_days=days)
    assert code_of(excinfo) == code


def test_notes_are_required_and_the_record_is_rewritten_until_check_out(nurse, visit):
    f.in_service(visit, nurse)
    with pytest.raises(DomainError) as excinfo:
        record(nurse, visit, procedure_notes="  ")
    assert code_of(excinfo) == "notes_required"
    record(nurse, visit, next_service_code="wound_dressing", next_in_days=3, next_note="三天后换药")
    record(nurse, visit, procedure_notes="已换药，渗液少量")
    saved = CareRecord.objects.get(visit=visit)
    assert saved.procedure_notes == "已换药，渗液少量" and saved.next_service is None and saved.version == 1


def test_check_out_needs_the_service_and_the_record(nurse, visit):
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    with pytest.raises(Conflict) as excinfo:
        visiting.check_out(actor=nurse, visit_id=visit.pk)
    assert code_of(excinfo) == "not_in_service"
    visiting.check_in(actor=nurse, visit_id=visit.pk)
    with pytest.raises(Conflict) as excinfo:
        visiting.check_out(actor=nurse, visit_id=visit.pk)
    assert code_of(excinfo) == "care_record_required"
    record(nurse, visit)
    visiting.check_out(actor=nurse, visit_id=visit.pk)
    with pytest.raises(Conflict) as excinfo:
        record(nurse, visit)
    assert code_of(excinfo) == "record_closed"


def test_the_evv_facts_are_complete_after_check_out(elder, nurse, visit):
    visit = f.completed(visit, nurse)
    facts = visiting.evv(visit)
    assert facts["service"] == "wound_dressing" and facts["recipient"] == elder.pk
    assert facts["date"] == timezone.localdate().isoformat() and facts["nurse"] == nurse.pk
    assert facts["place"]["check_in"] == list(f.ADDRESS_LATLNG) and facts["place"]["check_out"] == list(
        f.ADDRESS_LATLNG)
    assert facts["start"] < facts["end"]
    assert visit.request.status == RequestStatus.COMPLETED and not visit.flagged


# ---- "only around the visit" ------------------------------------------------------------------------------------


def test_the_nurse_sees_the_visit_until_the_access_hours_after_check_out(nurse, visit, settings):
    settings.HOMECARE_CARE_ACCESS_HOURS = 24
    f.completed(visit, nurse)
    assessed_long_ago(visit)
    visit.refresh_from_db()
    assert selectors.visit_for(nurse, visit.pk)[1] == "nurse"
    NurseVisit.objects.filter(pk=visit.pk).update(checked_out_at=visit.checked_out_at - timedelta(hours=23))
    assert selectors.visit_for(nurse, visit.pk)[1] == "nurse"
    NurseVisit.objects.filter(pk=visit.pk).update(checked_out_at=visit.checked_out_at - timedelta(hours=25))
    with pytest.raises(NotFound):
        selectors.visit_for(nurse, visit.pk)


def test_a_visit_three_days_ago_or_two_days_ahead_is_404_to_the_nurse(elder, nurse, visit):
    moved = {"day": visit.day - timedelta(days=3), "planned_start": visit.planned_start - timedelta(days=3),
             "planned_end": visit.planned_end - timedelta(days=3)}
    NurseVisit.objects.filter(pk=visit.pk).update(**moved)
    assessed_long_ago(visit)
    with pytest.raises(NotFound):
        selectors.visit_for(nurse, visit.pk)
    later = f.scheduled(f.accepted(f.booked(f.eligible_patient(), day=timezone.localdate() + timedelta(days=2)),
                                   nurse), nurse)
    assessed_long_ago(later)
    with pytest.raises(NotFound):
        selectors.visit_for(nurse, later.pk)
    NurseVisit.objects.filter(pk=later.pk).update(day=timezone.localdate() + timedelta(days=1))
    assert selectors.visit_for(nurse, later.pk)[1] == "nurse"  # from the day before


# ---- the patient's confirmation -----------------------------------------------------------------------------------


def test_the_patient_confirms(elder, relative, nurse, visit):
    with pytest.raises(Conflict) as excinfo:
        visiting.confirm(actor=elder.user, visit_id=visit.pk)
    assert code_of(excinfo) == "not_completed"
    f.completed(visit, nurse)
    with pytest.raises(NotFound):
        visiting.confirm(actor=nurse, visit_id=visit.pk)
    confirmed = visiting.confirm(actor=relative, visit_id=visit.pk)
    assert confirmed.confirmed_by == relative and not confirmed.disputed and not confirmed.flagged
    with pytest.raises(Conflict) as excinfo:
        visiting.confirm(actor=elder.user, visit_id=visit.pk)
    assert code_of(excinfo) == "already_confirmed"


def test_a_dispute_needs_a_note_and_flags_the_visit(elder, nurse, visit):
    f.completed(visit, nurse)
    with pytest.raises(DomainError) as excinfo:
        visiting.confirm(actor=elder.user, visit_id=visit.pk, disputed=True, note=" ")
    assert code_of(excinfo) == "dispute_note_required"
    disputed = visiting.confirm(actor=elder.user, visit_id=visit.pk, disputed=True, note="护士只待了十分钟")
    assert disputed.disputed and disputed.flagged and disputed.dispute_note == "护士只待了十分钟"


# ---- corrections -------------------------------------------------------------------------------------------------


def test_a_correction_is_requested_after_check_out_with_a_reason(nurse, other_nurse, visit):
    f.in_service(visit, nurse)
    record(nurse, visit)
    with pytest.raises(Conflict) as excinfo:
        visiting.request_correction(actor=nurse, visit_id=visit.pk, reason="漏记脉搏", vitals={"pulse": 80})
    assert code_of(excinfo) == "record_open"
    visiting.check_out(actor=nurse, visit_id=visit.pk)
    with pytest.raises(DomainError) as excinfo:
        visiting.request_correction(actor=nurse, visit_id=visit.pk, reason=" ", vitals={"pulse": 80})
    assert code_of(excinfo) == "reason_required"
    with pytest.raises(DomainError) as excinfo:
        visiting.request_correction(actor=nurse, visit_id=visit.pk, reason="脉搏记错了")
    assert code_of(excinfo) == "invalid_correction"
    with pytest.raises(DomainError) as excinfo:  # the corrected record is validated as a whole
        visiting.request_correction(actor=nurse, visit_id=visit.pk, reason="脉搏记错了", vitals={"pulse": 500})
    assert code_of(excinfo) == "invalid_vitals"
    with pytest.raises(NotFound):
        visiting.request_correction(actor=other_nurse, visit_id=visit.pk, reason="脉搏记错了", vitals={"pulse": 80})
    row = visiting.request_correction(actor=nurse, visit_id=visit.pk, reason="脉搏记错了",
                                      vitals={"systolic": 128, "pulse": 80})
    assert row.status == CorrectionStatus.PENDING and row.changes["vitals"] == {"systolic": 128, "pulse": 80}
    assert row.before["vitals"] == {"systolic": 128, "pulse": 72}


def test_a_supervisor_approves_a_correction_and_the_record_keeps_its_history(nurse, other_nurse, visit):
    f.in_service(visit, nurse)
    record(nurse, visit)
    visiting.check_out(actor=nurse, visit_id=visit.pk)
    row = visiting.request_correction(actor=nurse, visit_id=visit.pk, reason="脉搏记错了",
                                      vitals={"systolic": 128, "pulse": 80})
    junior = f.home_nurse(title=Title.NURSE_PRACTITIONER)
    for who in (nurse, junior, f.dispatcher()):  # the requester, a nurse below 主管护师, not a nurse
        with pytest.raises(NotFound):
            visiting.decide_correction(actor=who, correction_id=row.pk, approve=True)
    decided = visiting.decide_correction(actor=other_nurse, correction_id=row.pk, approve=True, note="核对无误")
    assert decided.status == CorrectionStatus.APPROVED and decided.decided_by == other_nurse
    saved = CareRecord.objects.get(visit=visit)
    assert saved.version == 2 and saved.vitals == {"systolic": 128, "pulse": 80}
    assert Correction.objects.get(pk=row.pk).before["vitals"] == {"systolic": 128, "pulse": 72}
    with pytest.raises(Conflict):  # decided once
        visiting.decide_correction(actor=other_nurse, correction_id=row.pk, approve=False, note="再议")


def test_rejecting_a_correction_needs_a_note_and_changes_nothing(nurse, other_nurse, visit):
    f.completed(visit, nurse)
    row = visiting.request_correction(actor=nurse, visit_id=visit.pk, reason="补充患者主诉",
                                      procedure_notes="伤口清洁干燥，已换药，患者诉轻微疼痛")
    with pytest.raises(DomainError) as excinfo:
        visiting.decide_correction(actor=other_nurse, correction_id=row.pk, approve=False)
    assert code_of(excinfo) == "note_required"
    visiting.decide_correction(actor=other_nurse, correction_id=row.pk, approve=False, note="请当面补记")
    saved = CareRecord.objects.get(visit=visit)
    assert saved.version == 1 and saved.procedure_notes == "伤口清洁干燥，已换药"
    assert Correction.objects.get(pk=row.pk).status == CorrectionStatus.REJECTED


# ---- the supervisor's review ---------------------------------------------------------------------------------------


def test_a_supervisor_reviews_a_flagged_visit(nurse, other_nurse, visit):
    f.completed(visit, nurse, where=None)
    visit.refresh_from_db()
    assert visit.flag_reasons == ["check_in_without_location", "check_out_without_location"]
    assert [v.pk for v in selectors.supervisor_queue(other_nurse)["flagged"]] == [visit.pk]
    junior = f.home_nurse(title=Title.NURSE_PRACTITIONER)
    for who in (nurse, junior):  # the visit's own nurse; a nurse who is no supervisor
        with pytest.raises(NotFound):
            visiting.review(actor=who, visit_id=visit.pk, note="看过了")
    with pytest.raises(DomainError) as excinfo:
        visiting.review(actor=other_nurse, visit_id=visit.pk, note="")
    assert code_of(excinfo) == "note_required"
    reviewed = visiting.review(actor=other_nurse, visit_id=visit.pk, note="电话确认：楼内无信号")
    assert reviewed.reviewed_by == other_nurse and reviewed.review_note == "电话确认：楼内无信号"
    with pytest.raises(Conflict) as excinfo:
        visiting.review(actor=other_nurse, visit_id=visit.pk, note="again")
    assert code_of(excinfo) == "already_reviewed"
    assert selectors.supervisor_queue(other_nurse)["flagged"] == []


def test_an_unflagged_visit_is_not_the_supervisors_to_review(nurse, other_nurse, visit):
    f.completed(visit, nurse)
    with pytest.raises(NotFound):
        visiting.review(actor=other_nurse, visit_id=visit.pk, note="看过了")
