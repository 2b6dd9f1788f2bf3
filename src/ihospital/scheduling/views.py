"""The availability page: a doctor's weekly rules of online-visit times and their closures.

A doctor manages their own; a hospital administrator chooses any online doctor and may also close the whole
hospital (holidays). Views parse, call one service, and show a refusal with the service's message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, Forbidden
from ihospital.core.pages import apply_domain_error
from ihospital.directory.models import Practitioner, Profession

from . import selectors, services
from .forms import ClosureForm, RuleForm
from .models import Weekday

RULE_FIELDS = {"weekday": "weekdays"}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _who(request) -> tuple[bool, Practitioner | None, list[Practitioner]]:
    """(is admin, the practitioner whose schedule the page shows, the doctors an admin may choose from)."""
    user = request.user
    if user.role == Role.ADMIN:
        doctors = list(
            Practitioner.objects.filter(profession=Profession.DOCTOR, departments__offers_online_visits=True)
            .select_related("user").distinct().order_by("user__real_name")
        )
        wanted = _int(request.POST.get("practitioner") or request.GET.get("practitioner"))
        return True, next((d for d in doctors if d.pk == wanted), None), doctors
    if user.role == Role.DOCTOR:
        practitioner = Practitioner.objects.select_related("user").filter(user=user).first()
        if practitioner is not None:
            return False, practitioner, []
    raise Forbidden("not_allowed", _("Only doctors and hospital administrators manage online availability."))


def _refusal(practitioner: Practitioner):
    try:
        services.check_online_eligibility(practitioner)
    except DomainError as exc:
        return exc.message
    return None


def _page_url(practitioner: Practitioner | None, is_admin: bool) -> str:
    url = reverse("scheduling:availability")
    return f"{url}?practitioner={practitioner.pk}" if is_admin and practitioner else url


def _page(request, *, rule_form=None, closure_form=None, error=None, status=200):
    is_admin, practitioner, doctors = _who(request)
    context = {
        "is_admin": is_admin, "practitioner": practitioner, "doctors": doctors, "page_error": error,
        "closure_form": closure_form or ClosureForm(allow_hospital=is_admin),
        "closures": list(selectors.upcoming_closures(practitioner.pk if practitioner else None)),
        "today": timezone.localdate(),
    }
    if practitioner is not None:
        departments = list(practitioner.departments.filter(offers_online_visits=True).order_by("code"))
        rules = list(selectors.rules_of(practitioner.pk))
        context.update(
            refusal=_refusal(practitioner),
            rule_days=[(label, [r for r in rules if r.weekday == day]) for day, label in Weekday.choices
                       if any(r.weekday == day for r in rules)],
            retired=list(selectors.rules_of(practitioner.pk, include_retired=True).filter(active=False)),
            rule_form=rule_form or RuleForm(departments=departments),
            departments=departments,
        )
    return render(request, "scheduling/availability.html", context, status=status)


@login_required
@require_GET
def availability(request):
    return _page(request)


@login_required
@require_POST
def publish_rule(request):
    is_admin, practitioner, _doctors = _who(request)
    if practitioner is None:
        return redirect("scheduling:availability")
    departments = list(practitioner.departments.filter(offers_online_visits=True))
    form = RuleForm(request.POST, departments=departments)
    if not form.is_valid():
        return _page(request, rule_form=form, status=400)
    data = dict(form.cleaned_data)
    weekdays = sorted(data.pop("weekdays"))
    try:
        with transaction.atomic():  # several weekdays at once: all of them or none
            for weekday in weekdays:
                try:
                    services.publish_rule(actor=request.user, practitioner_id=practitioner.pk, weekday=weekday, **data)
                except DomainError as exc:
                    if len(weekdays) > 1:
                        exc.message = f"{Weekday(weekday).label}: {exc.message}"
                    raise
    except DomainError as exc:
        apply_domain_error(form, exc, RULE_FIELDS)
        return _page(request, rule_form=form, status=exc.status)
    messages.success(request, _("Your times are published; patients can book them now."))
    return redirect(_page_url(practitioner, is_admin))


@login_required
@require_POST
def retire_rule(request, rule_id: int):
    is_admin, practitioner, _doctors = _who(request)
    try:
        services.retire_rule(actor=request.user, rule_id=rule_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return _page(request, error=exc.message, status=exc.status)
    messages.success(request, _("The rule is retired. Visits already booked stay as they are."))
    return redirect(_page_url(practitioner, is_admin))


@login_required
@require_POST
def add_closure(request):
    is_admin, practitioner, _doctors = _who(request)
    form = ClosureForm(request.POST, allow_hospital=is_admin)
    if not form.is_valid():
        return _page(request, closure_form=form, status=400)
    data = dict(form.cleaned_data)
    whole_hospital = data.pop("whole_hospital", False)
    if not whole_hospital and practitioner is None:
        form.add_error(None, _("Choose a doctor first, or close the whole hospital."))
        return _page(request, closure_form=form, status=400)
    try:
        result = services.add_closure(
            actor=request.user, practitioner_id=None if whole_hospital else practitioner.pk, **data
        )
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _page(request, closure_form=form, status=exc.status)
    messages.success(request, _("Closed. %(count)d open times were taken off.") % {"count": result.closed_slots})
    if result.affected:
        people = ", ".join(
            f"{a.patient.real_name} ({timezone.localtime(a.slot.starts_at):%m-%d %H:%M})" for a in result.affected
        )
        messages.warning(
            request,
            _("These booked patients are affected and must be told, or their visits moved: %(people)s")
            % {"people": people},
        )
    return redirect(_page_url(practitioner, is_admin))
