"""The coordinators' board (and the hospital administrators'): incoming requests with their deadlines (a countdown,
overdue ones highlighted), assigning experts (a lead, then team members, the picker filtered by the specialty
asked for), returning a request for more information, withdrawing an expert, scheduling a live session, the time
to first response and to report of each request with a summary per specialty, and the monthly statement per
partner facility (page and CSV).

Every act is one service call (``triage``, ``sessions``, ``accounting``); reads go through ``selectors.board``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError
from ihospital.core.pages import apply_domain_error, role_page

from . import accounting, selectors, triage
from .forms import AssignForm, ReasonForm, ScheduleForm, StatementForm
from .models import OPEN_STATUSES, Assignment, AssignmentRole, Status
from .views_common import attachment_rows, detail, is_board_user, times

board_page = role_page(is_board_user, "not_coordinator",
                       gettext_lazy("This page is for the consultation coordinators."))
coordinator_page = role_page(lambda user: user.is_authenticated and user.role == Role.COORDINATOR,
                             "not_coordinator", gettext_lazy("Only a consultation coordinator can do this."))


def _row(consult, now) -> dict:
    due = None
    if consult.status in (Status.SUBMITTED, Status.ASSIGNED):
        due = consult.first_response_due
    elif consult.status == Status.IN_REVIEW:
        due = consult.report_due
    return {"consult": consult, "due": due, "overdue": due is not None and due < now,
            "experts": [a.expert.real_name for a in consult.assignments.all() if a.ended_at is None],
            "times": times(consult)}


def _summary(qs) -> list[dict]:
    from . import metrics

    return metrics.specialty_summary(qs)


@board_page
@require_GET
def board(request):
    now = timezone.now()
    qs = selectors.board(request.user).prefetch_related("assignments__expert")
    open_rows = [_row(c, now) for c in qs.filter(status__in=OPEN_STATUSES).order_by("first_response_due")[:300]]
    # The most urgent first: overdue, then by the next deadline.
    open_rows.sort(key=lambda r: (not r["overdue"], r["due"] or now))
    recent = [_row(c, now) for c in qs.exclude(status__in=OPEN_STATUSES).order_by("-submitted_at")[:50]]
    return render(request, "teleconsult/board.html", {
        "waiting": [r for r in open_rows if r["consult"].status == Status.SUBMITTED],
        "open_rows": [r for r in open_rows if r["consult"].status != Status.SUBMITTED],
        "recent": recent, "summary": _summary(qs), "now": now, "live": True,
    })


def _experts(consult):
    """Eligible experts, those of the requested specialty first (the picker shows both, labelled)."""
    own = list(triage.experts(department_id=consult.department_id)) if consult.department_id else []
    others = [u for u in triage.experts() if u.pk not in {e.pk for e in own}]
    for user in own:
        user.label = f"{user.real_name} · {consult.department.name}"
    for user in others:
        user.label = user.real_name
    return own + others


def request_context(request, consult, forms: dict) -> dict:
    assignments = list(consult.assignments.select_related("expert", "assigned_by").order_by("assigned_at"))
    active = [a for a in assignments if a.ended_at is None]
    can_triage = request.user.role == Role.COORDINATOR
    has_lead = any(a.role == AssignmentRole.LEAD for a in active)
    can_assign = can_triage and consult.status in (Status.SUBMITTED, Status.ASSIGNED, Status.IN_REVIEW)
    now = timezone.now()
    return {
        "attachments": attachment_rows(consult, with_content=False),
        "assignments": assignments,
        "row": _row(consult, now),
        "can_assign": can_assign,
        "can_return": can_triage and consult.status == Status.SUBMITTED,
        "can_withdraw": can_triage and consult.status in (Status.ASSIGNED, Status.IN_REVIEW),
        "can_schedule": can_triage and consult.status in (Status.ASSIGNED, Status.IN_REVIEW),
        "assign_form": forms.get("assign") or (AssignForm(experts=_experts(consult), initial={
            "role": AssignmentRole.MEMBER if has_lead else AssignmentRole.LEAD,
            "expert": consult.named_expert_id}) if can_assign else None),
        "return_form": forms.get("return") or ReasonForm(),
        "schedule_form": forms.get("schedule") or ScheduleForm(),
        "times": times(consult),
        "escalations": list(consult.escalations.all()),
        "live": True,
    }


def _act(request, request_id: int, call, done: str, form=None, form_name: str = ""):
    try:
        call()
    except DomainError as exc:
        if form is not None:
            apply_domain_error(form, exc)
        return detail(request, request_id, error=exc, forms={form_name: form} if form is not None else None)
    messages.success(request, done)
    return redirect("teleconsult:request", request_id)


@coordinator_page
@require_POST
def assign(request, request_id: int):
    consult, _role = selectors.request_for(request.user, request_id, roles=("coordinator",), audit_read=False)
    form = AssignForm(request.POST, experts=_experts(consult))
    if not form.is_valid():
        exc = DomainError("not_an_expert", gettext_lazy("Choose an expert from the list."), status=400,
                          fields={"expert": gettext_lazy("required")})
        apply_domain_error(form, exc)
        return detail(request, request_id, error=exc, forms={"assign": form})
    data = form.cleaned_data
    return _act(request, request_id, lambda: triage.assign(
        actor=request.user, request_id=request_id, expert_id=data["expert"], role=data["role"]),
        _("Expert assigned."), form, "assign")


@coordinator_page
@require_POST
def return_request(request, request_id: int):
    form = ReasonForm(request.POST)
    reason = request.POST.get("reason", "")
    return _act(request, request_id, lambda: triage.return_request(
        actor=request.user, request_id=request_id, reason=reason),
        _("Returned to the referring doctor for more information."), form, "return")


@coordinator_page
@require_POST
def withdraw(request, request_id: int, assignment_id: int):
    if not Assignment.objects.filter(pk=assignment_id, request_id=request_id).exists():
        # An assignment of another request through this one's address: 404, audited, like any id not theirs.
        raise selectors.denied(request.user, assignment_id, object_type="teleconsult.assignment")
    reason = request.POST.get("reason", "")
    return _act(request, request_id, lambda: triage.withdraw_assignment(
        actor=request.user, assignment_id=assignment_id, reason=reason), _("Expert withdrawn."))


@require_POST
def schedule(request, request_id: int):
    """A live session (coordinator or lead expert; ``sessions.schedule_session`` decides)."""
    from django.contrib.auth.views import redirect_to_login

    from . import sessions

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        exc = DomainError("invalid_time", gettext_lazy("Give the date and time of the session."), status=400,
                          fields={"starts_at": gettext_lazy("required")})
        return detail(request, request_id, error=exc, forms={"schedule": form})
    data = form.cleaned_data
    starts_at = data["starts_at"]
    if timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at)
    return _act(request, request_id, lambda: sessions.schedule_session(
        actor=request.user, request_id=request_id, starts_at=starts_at, minutes=data["minutes"],
        include_patient=data["include_patient"]), _("Live session scheduled; the participants were told."),
        form, "schedule")


# ---- statements -------------------------------------------------------------------------------------------------


def _partners():
    return accounting.partner_facilities()


def _statement_form(request):
    today = timezone.localdate()
    facilities = _partners()
    data = request.GET.copy()
    data.setdefault("month", f"{today:%Y-%m}")
    if facilities and not data.get("facility"):
        data["facility"] = str(facilities[0].pk)
    return StatementForm(data, facilities=facilities)


@board_page
@require_GET
def statement(request):
    form = _statement_form(request)
    result, status, error = None, 200, None
    if form.is_valid():
        try:
            result = accounting.statement(actor=request.user, facility_id=form.cleaned_data["facility"],
                                          month=form.cleaned_data["month"])
            result.total_yuan = accounting.yuan(result.total_fen)
            for row in result.rows:
                row.fee_yuan = accounting.yuan(row.fee_fen)
        except DomainError as exc:
            status, error = exc.status, {"message": exc.message, "code": exc.code}
    else:
        status = 400
    return render(request, "teleconsult/statement.html", {
        "form": form, "statement": result, "page_error": error,
        "csv_query": urlencode({"facility": form["facility"].value() or "", "month": form["month"].value() or ""}),
    }, status=status)


@board_page
@require_GET
def statement_csv(request):
    form = _statement_form(request)
    if not form.is_valid():
        return HttpResponse(_("Give a partner facility and the month as YYYY-MM."), status=400,
                            content_type="text/plain; charset=utf-8")
    facility_id, month = form.cleaned_data["facility"], form.cleaned_data["month"]
    try:
        body = accounting.statement_csv(actor=request.user, facility_id=facility_id, month=month)
    except DomainError as exc:
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    # A BOM so that spreadsheet programs read the Chinese names as UTF-8.
    response = HttpResponse("\ufeff" + body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="teleconsult-{facility_id}-{month:%Y-%m}.csv"'
    response["Cache-Control"] = "no-store, private"
    return response


__all__ = ["board", "request_context", "assign", "return_request", "withdraw", "schedule", "statement",
           "statement_csv"]
