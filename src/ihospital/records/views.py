"""The chart pages. Every read goes through ``selectors.chart``/``document_for`` (someone else's id answers
404), every write through one service; a refusal is shown on the form with the service's message."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.acting import acting_patient
from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error

from . import icd10, selectors, services
from .api import document_response
from .forms import AllergyForm, ConditionForm, DocumentForm, MedicationForm

SECTIONS = {"document": "documents", "allergy": "allergies", "medication": "medications", "condition": "conditions"}


@login_required
def me(request):
    """The chart of the patient being handled now: one's own, or a relative's chosen with "act for"."""
    patient = acting_patient(request)
    if patient is None:
        return redirect("web:home")  # staff have no chart of their own
    return redirect("records:chart", patient_id=patient.pk)


def _chart_page(request, patient_id: int, *, bound: dict | None = None, status: int = 200):
    chart = selectors.chart(request.user, patient_id)  # NotFound -> the 404 page
    bound = bound or {}
    is_doctor = chart.access == "clinician" and request.user.role == Role.DOCTOR
    context = {
        "chart": chart,
        "patient": chart.patient,
        "is_doctor": is_doctor,
        "open_form": next(iter(bound), ""),
        "document_form": bound.get("document") or DocumentForm(),
        "allergy_form": bound.get("allergy") or AllergyForm(),
        "medication_form": bound.get("medication") or MedicationForm(),
        "condition_form": (
            (bound.get("condition") or ConditionForm()).offer_encounters(chart.encounters) if is_doctor else None
        ),
    }
    return render(request, "records/chart.html", context, status=status)


@login_required
@require_GET
def chart(request, patient_id: int):
    return _chart_page(request, patient_id)


def _save(request, patient_id: int, key: str, form, act, done: str):
    if not form.is_valid():
        return _chart_page(request, patient_id, bound={key: form}, status=400)
    try:
        act(form.cleaned_data)
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _chart_page(request, patient_id, bound={key: form}, status=exc.status)
    messages.success(request, done)
    return redirect(reverse("records:chart", args=[patient_id]) + "#" + SECTIONS[key])


@login_required
@require_POST
def upload_document(request, patient_id: int):
    return _save(
        request, patient_id, "document", DocumentForm(request.POST, request.FILES),
        lambda data: services.upload_document(actor=request.user, patient_id=patient_id, **data),
        _("Document uploaded."),
    )


@login_required
@require_POST
def add_allergy(request, patient_id: int):
    return _save(
        request, patient_id, "allergy", AllergyForm(request.POST),
        lambda data: services.add_allergy(actor=request.user, patient_id=patient_id, **data),
        _("Allergy added."),
    )


@login_required
@require_POST
def add_medication(request, patient_id: int):
    return _save(
        request, patient_id, "medication", MedicationForm(request.POST),
        lambda data: services.add_medication(actor=request.user, patient_id=patient_id, **data),
        _("Medicine added."),
    )


@login_required
@require_POST
def add_condition(request, patient_id: int):
    return _save(
        request, patient_id, "condition", ConditionForm(request.POST),
        lambda data: services.add_condition(actor=request.user, patient_id=patient_id, **data),
        _("Diagnosis added."),
    )


@login_required
@require_GET
def download_document(request, document_id: int):
    return document_response(selectors.document_for(request.user, document_id))


@login_required
@require_GET
def icd10_search(request):
    """The htmx fragment behind the diagnosis form's search box."""
    language = get_language() or "zh-hans"
    results = [(c.code, c.name(language)) for c in icd10.search(request.GET.get("q", ""), limit=15)]
    return render(request, "records/_icd10_results.html", {"results": results, "query": request.GET.get("q", "")})
