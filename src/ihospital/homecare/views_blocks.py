"""The administration's blocks page: ``/homecare/blocks/``. Find a patient by medical record number, block home
nursing for them with what happened (``assessing.block``: open requests not under way are cancelled), see the
active blocks, lift one with a reason (``assessing.unblock``). Lifted blocks stay on file."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from ihospital.accounts.models import PatientProfile
from ihospital.core import audit
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditAction

from . import assessing
from .forms_staff import BlockForm, LiftForm, MrnSearchForm
from .models import OPEN_REQUEST_STATUSES, Block, NursingRequest
from .selectors import active_block
from .views_staff import admin_page, page_error

RECENTLY_LIFTED = 20


def _found(user, mrn: str) -> dict | None:
    patient = PatientProfile.objects.select_related("user").filter(mrn__iexact=mrn.strip()).first()
    if patient is None:
        return None
    audit.record(actor=user, action=AuditAction.READ, obj=patient, patient_id=patient.pk,
                 detail={"view": "homecare_blocks", "mrn": mrn.strip()})
    return {"patient": patient, "block": active_block(patient.pk),
            "open_requests": NursingRequest.objects.filter(patient=patient, status__in=OPEN_REQUEST_STATUSES).count()}


def _context(request, *, search=None, block_form=None, lift_forms: dict | None = None, error=None,
             errors: dict | None = None) -> dict:
    search = search or MrnSearchForm(request.GET or None)
    found = None
    if search.is_bound and search.is_valid():
        found = _found(request.user, search.cleaned_data["mrn"])
    active = list(Block.objects.filter(lifted_at__isnull=True).select_related("patient__user", "blocked_by"))
    lifted = list(Block.objects.filter(lifted_at__isnull=False).select_related(
        "patient__user", "lifted_by").order_by("-lifted_at")[:RECENTLY_LIFTED])
    audit.record(actor=request.user, action=AuditAction.READ, object_type="homecare.block",
                 detail={"list": "blocks", "active": len(active)})
    lift_forms = lift_forms or {}
    return {
        "search": search, "found": found, "searched": search.is_bound,
        "block_form": block_form or (BlockForm(initial={"patient_id": found["patient"].pk}) if found else None),
        "active": [{"block": b, "form": lift_forms.get(b.patient_id) or LiftForm(prefix=f"lift{b.patient_id}"),
                    "error": (errors or {}).get(b.patient_id)} for b in active],
        "lifted": lifted, "page_error": page_error(error) if error else None,
    }


def _back(mrn: str = "") -> str:
    return reverse("homecare:blocks") + (f"?{urlencode({'mrn': mrn})}" if mrn else "")


@require_http_methods(["GET", "POST"])
@admin_page
def blocks(request):
    if request.method == "GET":
        return render(request, "homecare/blocks.html", _context(request))
    form = BlockForm(request.POST)
    mrn = (request.POST.get("mrn") or "").strip()
    search = MrnSearchForm({"mrn": mrn}) if mrn else MrnSearchForm()
    if not form.is_valid():
        return render(request, "homecare/blocks.html", _context(request, search=search, block_form=form), status=400)
    try:
        row = assessing.block(actor=request.user, patient_id=form.cleaned_data["patient_id"],
                              reason=form.cleaned_data["reason"])
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
        else:
            form.add_error(None, str(exc.message))
        return render(request, "homecare/blocks.html", _context(request, search=search, block_form=form),
                      status=exc.status)
    messages.success(request, _("%(name)s is blocked from home nursing; their open requests were cancelled.") % {
        "name": row.patient.real_name})
    return redirect(_back(row.patient.mrn))


@require_POST
@admin_page
def lift(request, patient_id: int):
    form = LiftForm(request.POST, prefix=f"lift{patient_id}")
    form.is_valid()
    try:
        row = assessing.unblock(actor=request.user, patient_id=patient_id, reason=form.cleaned_data.get("reason", ""))
    except DomainError as exc:
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
        context = _context(request, lift_forms={patient_id: form}, errors={patient_id: exc.message},
                           error=exc if exc.code == "not_blocked" else None)
        return render(request, "homecare/blocks.html", context, status=exc.status)
    messages.success(request, _("The block of %(name)s was lifted.") % {"name": row.patient.real_name})
    return redirect(_back())
