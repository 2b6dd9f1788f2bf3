"""The dispatchers' day board: ``/homecare/dispatch/<date>/``.

One page per day: the requests accepted for it and waiting for a nurse, the nurses on shift (and a form to set a
shift), each nurse's timeline, the map, and the optimiser's proposal. Acts: propose, accept the proposal, assign
by hand (or change), unassign, the second nurse of a two-nurse visit. A refusal re-draws the board with the
message beside the row it is about, and the service's status. The board follows the day live (homecare/live.js
re-reads ``?part=board`` when something changes); alarms show at the top (dispatch.js).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.core.errors import DomainError, NotFound

from . import board, dispatch, selectors
from .forms_staff import ShiftForm
from .models import AlarmStatus, DispatchPlan
from .views_staff import dispatcher_page, live_strings, page_error


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Http404 from None


def day_url(day: date, anchor: str = "") -> str:
    return reverse("homecare:dispatch_day", args=[day.isoformat()]) + (f"#{anchor}" if anchor else "")


def _render(request, day: date, *, status: int = 200, errors: dict | None = None, posted: dict | None = None,
            shift_form: ShiftForm | None = None, error: DomainError | None = None):
    nurses = board.home_care_nurses()
    context = board.board(request.user, day, errors=errors, posted=posted)
    context.update({
        "today": timezone.localdate(), "previous": day - timedelta(days=1), "next": day + timedelta(days=1),
        "shift_form": shift_form or ShiftForm(nurses=nurses), "home_nurses": nurses,
        "page_error": page_error(error) if error else None, "live": live_strings(),
    })
    if request.GET.get("part") == "board":
        return render(request, "homecare/_dispatch_board.html", context, status=status)
    context["alarms"] = list(selectors.open_alarms(request.user)[:20])
    context["alarm_strings"] = {"console": _("Security console"),
                                **{value: str(label) for value, label in AlarmStatus.choices}}
    return render(request, "homecare/dispatch_day.html", context, status=status)


@require_GET
@dispatcher_page
def today(request):
    """Today's board, or the day picked in the date field (``?day=YYYY-MM-DD``; anything else: today)."""
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = timezone.localdate()
    return redirect(day_url(day))


@require_GET
@dispatcher_page
def day_board(request, day: str):
    return _render(request, _day(day))


@require_POST
@dispatcher_page
def set_shift(request, day: str):
    the_day = _day(day)
    form = ShiftForm(request.POST, nurses=board.home_care_nurses())
    if not form.is_valid():
        return _render(request, the_day, status=400, shift_form=form)
    try:
        shift = dispatch.set_shift(actor=request.user, nurse_id=form.cleaned_data["nurse"], day=the_day,
                                   starts=form.cleaned_data["starts"], ends=form.cleaned_data["ends"])
    except DomainError as exc:
        form.add_error("ends" if exc.code == "invalid_shift" else None, str(exc.message))
        return _render(request, the_day, status=exc.status, shift_form=form)
    messages.success(request, _("Shift saved: %(nurse)s, %(starts)s–%(ends)s.") % {
        "nurse": shift.nurse.real_name, "starts": shift.starts.strftime("%H:%M"), "ends": shift.ends.strftime("%H:%M")})
    return redirect(day_url(the_day, "nurses"))


@require_POST
@dispatcher_page
def propose(request, day: str):
    the_day = _day(day)
    try:
        plan = dispatch.propose(actor=request.user, day=the_day)
    except DomainError as exc:
        return _render(request, the_day, status=exc.status, errors={"propose": exc.message})
    messages.success(request, _("Proposal ready: %(n)s visits planned, %(u)s not.") % {
        "n": sum(len(stops) for stops in plan.routes.values()), "u": len(plan.unassigned)})
    return redirect(day_url(the_day, "proposal"))


@require_POST
@dispatcher_page
def accept_plan(request, plan_id: int):
    plan = get_object_or_404(DispatchPlan, pk=plan_id)
    try:
        visits = dispatch.accept_plan(actor=request.user, plan_id=plan.pk)
    except NotFound:
        raise
    except DomainError as exc:
        return _render(request, plan.day, status=exc.status, errors={"plan": exc.message})
    messages.success(request, _("Proposal accepted: %(n)s visits scheduled; the nurses and patients were told.")
                     % {"n": len(visits)})
    return redirect(day_url(plan.day, "timeline"))


def _request_day(request, request_id: int) -> date:
    """The day of a request the dispatcher may see (accepted or later); 404 (audited) otherwise."""
    req, _role = selectors.request_for(request.user, request_id, audit_read=False, roles=("dispatcher",))
    return req.preferred_date


def _act(request, request_id: int, act, done: str, posted: dict | None = None):
    the_day = _request_day(request, request_id)
    try:
        act()
    except NotFound:
        raise
    except DomainError as exc:
        return _render(request, the_day, status=exc.status, errors={f"req:{request_id}": exc.message},
                       posted={f"req:{request_id}": posted or {}})
    messages.success(request, done)
    return redirect(day_url(the_day, f"req-{request_id}"))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@require_POST
@dispatcher_page
def assign(request, request_id: int):
    nurse_id, start = _int(request.POST.get("nurse")), (request.POST.get("start") or "").strip()
    second = _int(request.POST.get("second_nurse"))
    posted = {"nurse": nurse_id, "start": start}

    def act():
        if nurse_id is None:
            raise DomainError("nurse_required", _("Please choose a nurse."))
        dispatch.assign(actor=request.user, request_id=request_id, nurse_id=nurse_id, start=start,
                        second_nurse_id=second)

    return _act(request, request_id, act, _("Visit scheduled; the nurse and the patient were told."), posted)


@require_POST
@dispatcher_page
def unassign(request, request_id: int):
    reason = (request.POST.get("reason") or "").strip()[:500]
    return _act(request, request_id, lambda: dispatch.unassign(actor=request.user, request_id=request_id,
                                                               reason=reason),
                _("The visit was taken off the nurse; the request waits for a nurse again."))


@require_POST
@dispatcher_page
def second_nurse(request, request_id: int):
    nurse_id = _int(request.POST.get("nurse"))

    def act():
        if nurse_id is None:
            raise DomainError("nurse_required", _("Please choose a nurse."))
        dispatch.set_second_nurse(actor=request.user, request_id=request_id, nurse_id=nurse_id)

    return _act(request, request_id, act, _("Second nurse assigned."))
