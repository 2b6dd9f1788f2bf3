"""Dispatch: nurses' shifts, the optimiser's proposal for a day, accepting it, and assigning by hand.

The optimiser (``routing.solve``, pyvrp) sees each accepted request of the day as a job that only nurses
qualified for its service may take (licence, title, years and specialty, as ``assessing.qualification_refusal``
decides), within the patient's window, for the service's duration, and each nurse's shift from and back to
their start point. Visits already scheduled are pinned to their nurse and time, so a new proposal plans around
them. A proposal changes nothing until a dispatcher accepts it; accepting re-checks everything under locks, so
a request scheduled by hand meanwhile makes the whole acceptance fail (``plan_stale``) rather than double-book.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.records.models import CareRelationship, CareSource
from ihospital.records.services import grant_care

from . import realtime, routing, travel
from .assessing import qualification_refusal
from .models import DispatchPlan, NurseProfile, NurseVisit, NursingRequest, PlanStatus, RequestStatus, Shift
from .selectors import access_ends, is_home_nurse


def _dispatcher(actor: User) -> None:
    if not actor.is_authenticated or actor.role != Role.DISPATCHER:
        raise Forbidden("not_a_dispatcher", _("Only dispatchers plan home visits."))


def at(day: date, seconds: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time())) + timedelta(seconds=int(seconds))


def seconds_of(moment: datetime | time) -> int:
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).time()
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _parse_day(value) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DomainError("invalid_date", _("Please choose a date."), fields={"day": value}) from None


# ---- shifts ----------------------------------------------------------------------------------------------------


def set_shift(*, actor: User, nurse_id: int, day, starts, ends) -> Shift:
    _dispatcher(actor)
    nurse = User.objects.filter(pk=nurse_id, role=Role.NURSE).first()
    if nurse is None or not is_home_nurse(nurse) or not NurseProfile.objects.filter(user=nurse).exists():
        raise DomainError("not_a_home_nurse", _("This nurse is not registered for home nursing."))
    day = _parse_day(day)
    try:
        starts, ends = time.fromisoformat(str(starts)), time.fromisoformat(str(ends))
    except ValueError:
        raise DomainError("invalid_shift", _("Please give the shift as HH:MM to HH:MM.")) from None
    if ends <= starts:
        raise DomainError("invalid_shift", _("The shift must end after it starts."))
    booked = NurseVisit.objects.filter(nurse=nurse, day=day).exclude(request__status=RequestStatus.CANCELLED)
    for visit in booked:
        if seconds_of(visit.planned_start) < seconds_of(starts) or seconds_of(visit.planned_end) > seconds_of(ends):
            raise Conflict("shift_excludes_visits", _("Visits already scheduled fall outside this shift; reassign "
                                                      "them first."))
    with transaction.atomic():
        shift, created = Shift.objects.update_or_create(nurse=nurse, day=day, defaults={
            "starts": starts, "ends": ends, "created_by": actor})
        audit.record(actor=actor, action=AuditAction.CREATE if created else AuditAction.UPDATE, obj=shift,
                     detail={"nurse": nurse.pk, "day": day.isoformat(), "starts": str(starts), "ends": str(ends)})
    return shift


# ---- the optimiser's problem -----------------------------------------------------------------------------------


def build_problem(day: date) -> tuple[routing.Problem, dict[str, NursingRequest], set[str]]:
    """The day as the optimiser sees it: the accepted requests (free) and scheduled visits (pinned)."""
    shifts = list(Shift.objects.filter(day=day).select_related("nurse__home_nurse", "nurse__practitioner"))
    shifts = [s for s in shifts if hasattr(s.nurse, "home_nurse") and is_home_nurse(s.nurse)]
    free = list(NursingRequest.objects.filter(status=RequestStatus.ACCEPTED, preferred_date=day).select_related(
        "service"))
    pinned = list(NurseVisit.objects.filter(day=day, request__status=RequestStatus.SCHEDULED).select_related(
        "request__service"))
    services = {r.service_id: r.service for r in free} | {v.request.service_id: v.request.service for v in pinned}
    # Skills as the optimiser sees them: the services each nurse is qualified for, decided once per pair.
    qualified = {s.nurse_id: frozenset(f"svc:{svc.code}" for svc in services.values()
                                       if qualification_refusal(s.nurse, svc) is None) for s in shifts}
    nurses = tuple(
        routing.Nurse(key=str(s.nurse_id), skills=qualified[s.nurse_id],
                      start=routing.Point(s.nurse.home_nurse.base_latitude, s.nurse.home_nurse.base_longitude),
                      shift_start=seconds_of(s.starts), shift_end=seconds_of(s.ends))
        for s in shifts)
    jobs, by_key = [], {}
    for req in free:
        key = str(req.pk)
        by_key[key] = req
        jobs.append(routing.Job(key=key, skills=frozenset({f"svc:{req.service.code}"}),
                                at=routing.Point(req.latitude, req.longitude),
                                window_start=seconds_of(req.window_start), window_end=seconds_of(req.window_end),
                                duration=req.service.duration_minutes * 60))
    pinned_keys = set()
    for visit in pinned:
        key = str(visit.request_id)
        by_key[key] = visit.request
        pinned_keys.add(key)
        start = seconds_of(visit.planned_start)
        jobs.append(routing.Job(key=key, skills=frozenset({f"svc:{visit.request.service.code}"}),
                                at=routing.Point(visit.request.latitude, visit.request.longitude), window_start=start,
                                window_end=start, duration=seconds_of(visit.planned_end) - start,
                                nurse=str(visit.nurse_id)))
    return routing.Problem(nurses=nurses, jobs=tuple(jobs)), by_key, pinned_keys


def propose(*, actor: User, day, time_limit: float | None = None) -> DispatchPlan:
    from django.conf import settings

    _dispatcher(actor)
    day = _parse_day(day)
    problem, by_key, pinned = build_problem(day)
    if not any(job.key not in pinned for job in problem.jobs):
        raise DomainError("nothing_to_plan", _("No accepted requests are waiting for this day."))
    if not problem.nurses:
        raise DomainError("no_shifts", _("No home-care nurse has a shift on this day."))
    matrix = travel.matrix()
    plan = routing.solve(problem, matrix=matrix, time_limit=time_limit or settings.HOMECARE_DISPATCH_SECONDS)
    baseline = routing.greedy(problem, matrix=matrix)
    routes = {
        nurse: [{"request": int(stop.job), "start": stop.start, "end": stop.end, "travel": stop.travel,
                 "pinned": stop.job in pinned} for stop in stops]
        for nurse, stops in plan.routes.items() if stops
    }
    with transaction.atomic():
        DispatchPlan.objects.filter(day=day, status=PlanStatus.PROPOSED).update(status=PlanStatus.SUPERSEDED)
        row = DispatchPlan.objects.create(
            day=day, created_by=actor, solver=plan.solver, routes=routes, unassigned=plan.unassigned,
            travel_seconds=plan.travel_seconds, greedy_travel_seconds=baseline.travel_seconds,
            elapsed_ms=int(plan.elapsed * 1000))
        audit.record(actor=actor, action=AuditAction.CREATE, obj=row,
                     detail={"day": day.isoformat(), "jobs": len(problem.jobs), "nurses": len(problem.nurses),
                             "unassigned": len(plan.unassigned), "travel_s": plan.travel_seconds})
    return row


# ---- scheduling visits -----------------------------------------------------------------------------------------


def _check_fits(*, nurse: User, req: NursingRequest, start: int, exclude_request: int | None = None) -> int:
    """Raise unless ``nurse`` can do ``req`` starting at ``start`` (seconds): qualified, in the window, inside
    the shift with travel from the start point and back, and clear of their other visits with travel between.
    Returns the travel seconds from the previous stop. Call with the nurse's shift row locked."""
    refusal = qualification_refusal(nurse, req.service)
    if refusal:
        raise DomainError("nurse_not_qualified", _("%(nurse)s is not qualified for %(service)s (%(why)s).") % {
            "nurse": nurse.real_name, "service": req.service.name, "why": refusal})
    day = req.preferred_date
    shift = Shift.objects.select_for_update().filter(nurse=nurse, day=day).first()
    if shift is None:
        raise DomainError("no_shift", _("%(nurse)s has no home-care shift on %(day)s.") % {
            "nurse": nurse.real_name, "day": day.isoformat()})
    duration = req.service.duration_minutes * 60
    if not seconds_of(req.window_start) <= start <= seconds_of(req.window_end):
        raise DomainError("outside_window", _("The visit must start within the patient's window (%(a)s–%(b)s).") % {
            "a": req.window_start.isoformat("minutes"), "b": req.window_end.isoformat("minutes")})
    base = nurse.home_nurse
    here = routing.Point(req.latitude, req.longitude)
    others = [v for v in NurseVisit.objects.filter(nurse=nurse, day=day).exclude(
        request__status=RequestStatus.CANCELLED).select_related("request")
        if v.request_id != exclude_request]
    points = [routing.Point(base.base_latitude, base.base_longitude), here,
              *(routing.Point(v.request.latitude, v.request.longitude) for v in others)]
    matrix = travel.matrix().seconds(points)
    if start - matrix[0][1] < seconds_of(shift.starts) or start + duration + matrix[1][0] > seconds_of(shift.ends):
        raise DomainError("outside_shift", _("With travel, this visit does not fit in %(nurse)s's shift "
                                             "(%(a)s–%(b)s).") % {"nurse": nurse.real_name,
                                                                 "a": shift.starts.isoformat("minutes"),
                                                                 "b": shift.ends.isoformat("minutes")})
    travel_from_previous = matrix[0][1]
    previous_end = -1
    for i, other in enumerate(others, start=2):
        o_start, o_end = seconds_of(other.planned_start), seconds_of(other.planned_end)
        if o_start <= start:
            if o_end + matrix[i][1] > start:
                raise Conflict("overlaps_visit", _("%(nurse)s is busy then (visit %(number)s until %(end)s, with "
                                                   "travel).") % {"nurse": nurse.real_name,
                                                                  "number": other.request.number,
                                                                  "end": timezone.localtime(other.planned_end)
                                                                  .strftime("%H:%M")})
            if o_end > previous_end:
                previous_end, travel_from_previous = o_end, matrix[i][1]
        elif start + duration + matrix[1][i] > o_start:
            raise Conflict("overlaps_visit", _("%(nurse)s would be late for visit %(number)s at %(start)s.") % {
                "nurse": nurse.real_name, "number": other.request.number,
                "start": timezone.localtime(other.planned_start).strftime("%H:%M")})
    return travel_from_previous


def _schedule(*, actor: User, req: NursingRequest, nurse: User, start: int, travel_seconds: int,
              plan: DispatchPlan | None = None) -> NurseVisit:
    transition(req, RequestStatus.SCHEDULED, actor=actor, reason="scheduled")
    duration = req.service.duration_minutes * 60
    visit, _created = NurseVisit.objects.update_or_create(request=req, defaults={
        "nurse": nurse, "day": req.preferred_date, "planned_start": at(req.preferred_date, start),
        "planned_end": at(req.preferred_date, start + duration), "travel_seconds": travel_seconds, "plan": plan,
        "assigned_by": actor})
    open_chart(nurse, visit, actor=actor)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=req.patient_id,
                 detail={"nurse": nurse.pk, "start": visit.planned_start.isoformat(),
                         "plan": plan.pk if plan else None})
    realtime.request_changed(req, dispatch=True, nurses=(nurse.pk,))
    realtime.tell(req, "scheduled", gettext("Home visit %(number)s scheduled") % {"number": req.number},
                  gettext("Nurse %(nurse)s will come on %(day)s at about %(time)s.") % {
                      "nurse": nurse.real_name, "day": req.preferred_date.isoformat(),
                      "time": timezone.localtime(visit.planned_start).strftime("%H:%M")})
    return visit


def accept_plan(*, actor: User, plan_id: int) -> list[NurseVisit]:
    _dispatcher(actor)
    plan = DispatchPlan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise NotFound()
    if plan.status != PlanStatus.PROPOSED:
        raise Conflict("plan_not_proposed", _("This proposal was already accepted or replaced by a newer one."))
    nurses = {u.pk: u for u in User.objects.filter(pk__in=[int(k) for k in plan.routes]).select_related(
        "home_nurse", "practitioner")}
    visits = []
    try:
        with transaction.atomic():
            transition(plan, PlanStatus.ACCEPTED, actor=actor, reason="accepted")
            for nurse_key, stops in plan.routes.items():
                nurse = nurses[int(nurse_key)]
                for stop in stops:
                    if stop["pinned"]:
                        continue
                    req = NursingRequest.objects.select_related("service", "patient").get(pk=stop["request"])
                    if req.status != RequestStatus.ACCEPTED:
                        raise Conflict("plan_stale", _("Request %(number)s changed since this proposal; propose "
                                                       "again.") % {"number": req.number})
                    travel_seconds = _check_fits(nurse=nurse, req=req, start=stop["start"])
                    visits.append(_schedule(actor=actor, req=req, nurse=nurse, start=stop["start"],
                                            travel_seconds=travel_seconds, plan=plan))
    except DomainError as error:
        if error.code == "plan_stale":
            raise
        raise Conflict("plan_stale", _("The day changed since this proposal (%(why)s); propose again.") % {
            "why": error.message}) from None
    except IntegrityError:
        raise Conflict("plan_stale", _("The day changed since this proposal; propose again.")) from None
    return visits


def assign(*, actor: User, request_id: int, nurse_id: int, start, second_nurse_id: int | None = None) -> NurseVisit:
    """Assign by hand (or change: a scheduled visit is moved to the new nurse and time)."""
    _dispatcher(actor)
    req = NursingRequest.objects.select_related("service", "patient").filter(pk=request_id).first()
    if req is None or req.status not in (RequestStatus.ACCEPTED, RequestStatus.SCHEDULED):
        raise NotFound() if req is None else Conflict("not_schedulable", _("This request is %(status)s.") % {
            "status": req.get_status_display()})
    nurse = User.objects.filter(pk=nurse_id, role=Role.NURSE).select_related("home_nurse").first()
    if nurse is None or not hasattr(nurse, "home_nurse"):
        raise DomainError("not_a_home_nurse", _("This nurse is not registered for home nursing."))
    try:
        start_s = seconds_of(time.fromisoformat(str(start)))
    except ValueError:
        raise DomainError("invalid_time", _("Please give the start as HH:MM."), fields={"start": start}) from None
    with transaction.atomic():
        if req.status == RequestStatus.SCHEDULED:
            _unschedule(req, actor=actor, reason="reassigned")
        travel_seconds = _check_fits(nurse=nurse, req=req, start=start_s)
        visit = _schedule(actor=actor, req=req, nurse=nurse, start=start_s, travel_seconds=travel_seconds)
        if second_nurse_id:
            visit = set_second_nurse(actor=actor, request_id=req.pk, nurse_id=second_nurse_id)
    return visit


def set_second_nurse(*, actor: User, request_id: int, nurse_id: int) -> NurseVisit:
    """The second nurse a high-risk first visit needs: qualified, free at the visit's time."""
    _dispatcher(actor)
    visit = NurseVisit.objects.select_related("request__service", "request__patient").filter(
        request_id=request_id, request__status=RequestStatus.SCHEDULED).first()
    if visit is None:
        raise NotFound()
    nurse = User.objects.filter(pk=nurse_id, role=Role.NURSE).select_related("home_nurse").first()
    if nurse is None or not hasattr(nurse, "home_nurse") or nurse.pk == visit.nurse_id:
        raise DomainError("not_a_home_nurse", _("Choose another nurse registered for home nursing."))
    with transaction.atomic():
        _check_fits(nurse=nurse, req=visit.request, start=seconds_of(visit.planned_start))
        # The second nurse's own day must be clear too: their other visits are checked by _check_fits above.
        NurseVisit.objects.filter(pk=visit.pk).update(second_nurse=nurse)
        visit.second_nurse = nurse
        open_chart(nurse, visit, actor=actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.request.patient_id,
                     detail={"second_nurse": nurse.pk})
        realtime.request_changed(visit.request, dispatch=True, nurses=(nurse.pk,))
    return visit


def _unschedule(req: NursingRequest, *, actor: User, reason: str) -> None:
    transition(req, RequestStatus.ACCEPTED, actor=actor, reason=reason)
    release_visit(req, actor=actor)


def unassign(*, actor: User, request_id: int, reason: str = "") -> NursingRequest:
    _dispatcher(actor)
    req = NursingRequest.objects.filter(pk=request_id).first()
    if req is None:
        raise NotFound()
    if req.status != RequestStatus.SCHEDULED:
        raise Conflict("not_scheduled", _("Only a scheduled visit can be taken off its nurse."))
    with transaction.atomic():
        _unschedule(req, actor=actor, reason=reason or "unassigned")
        realtime.request_changed(req, dispatch=True)
    return req


def open_chart(nurse: User, visit: NurseVisit, *, actor: User) -> None:
    """The visit's nurse reaches the chart until ``access_ends(visit)``. A relationship left from an earlier
    assignment of the same visit (taken off the nurse, then given back) is reopened to that end."""
    ends = access_ends(visit)
    relation = grant_care(clinician=nurse, patient=visit.request.patient, source=CareSource.HOME_VISIT,
                          source_id=f"visit:{visit.request_id}", granted_by=actor, ends_at=ends)
    if relation.ends_at != ends:
        CareRelationship.objects.filter(pk=relation.pk).update(ends_at=ends)


def close_chart(visit: NurseVisit, *, at, actor: User) -> None:
    """The visit's nurses reach the chart until ``at`` and no longer. The relationship was granted with its end
    (``access_ends``) already set, which ``records.services.end_care`` leaves alone, so it is cut here."""
    req = visit.request
    for nurse_id in filter(None, (visit.nurse_id, visit.second_nurse_id)):
        CareRelationship.objects.filter(
            patient_id=req.patient_id, clinician_id=nurse_id, source=CareSource.HOME_VISIT,
            source_id=f"visit:{req.pk}",
        ).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at)).update(ends_at=at)
        audit.record(actor=actor, action=AuditAction.UPDATE, object_type="records.carerelationship",
                     patient_id=req.patient_id, detail={"ended": CareSource.HOME_VISIT, "clinician": nurse_id,
                                                        "at": at.isoformat()})


def release_visit(req: NursingRequest, *, actor: User) -> None:
    """The request no longer has a planned visit: close the chart to its nurses, drop the plan row (nothing
    happened at the home yet; the audit log and the timeline keep who had been planned)."""
    visit = NurseVisit.objects.filter(request=req).first()
    if visit is None:
        return
    if visit.checked_in_at is not None:
        raise Conflict("visit_started", _("The nurse has already checked in at this visit."))
    close_chart(visit, at=timezone.now(), actor=actor)
    audit.record(actor=actor, action=AuditAction.DELETE, obj=visit, patient_id=req.patient_id,
                 detail={"nurse": visit.nurse_id, "planned_start": visit.planned_start.isoformat()})
    nurses = tuple(filter(None, (visit.nurse_id, visit.second_nurse_id)))
    visit.delete()
    realtime.request_changed(req, dispatch=True, nurses=nurses)


def cancel_by_hospital(*, actor: User, request_id: int, reason: str) -> NursingRequest:
    """The home-nursing office cancels a visit the patient may no longer cancel online (the nurse has set out),
    or one the hospital cannot make; up to the nurse's check-in. The reason is what the patient reads."""
    _dispatcher(actor)
    req = NursingRequest.objects.select_related("service", "patient").filter(pk=request_id).first()
    # Requests still being assessed are not the dispatchers' (the same 404 as for a missing one).
    if req is None or req.status in (RequestStatus.REQUESTED, RequestStatus.ASSESSING):
        raise NotFound()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Please record why the visit is cancelled."),
                          fields={"reason": _("required")})
    with transaction.atomic():
        transition(req, RequestStatus.CANCELLED, actor=actor, reason=reason[:500], status_reason=reason[:500])
        release_visit(req, actor=actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=req, patient_id=req.patient_id,
                     detail={"cancelled": "hospital"})
        realtime.request_changed(req, assessors=True, dispatch=True)
        realtime.tell(req, "cancelled", gettext("Home visit %(number)s cancelled") % {"number": req.number}, reason)
    return req
