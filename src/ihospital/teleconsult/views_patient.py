"""The patient's (and their relatives') side: the consultations about the patients they act for; on a draft, the
consent prompt (who asks, which hospital, which items of the record would be shared) and giving consent; the
status while the experts work; the report when it is ready, with the reminder that it is advice and the
treating hospital keeps the decision; and the live session link when they are invited.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError
from ihospital.core.pages import role_page
from ihospital.directory.models import Facility, FacilityKind

from . import requests as consult_requests
from . import selectors
from .models import Status
from .views_common import attachment_rows, detail

patient_page = role_page(lambda user: user.role == Role.PATIENT, "not_a_patient",
                         gettext_lazy("This page is for patients and their families."))


@patient_page
@require_GET
def home(request):
    rows = list(selectors.of_patients(request.user).order_by("-created_at")[:100])
    return render(request, "teleconsult/patient_home.html", {
        "asking": [r for r in rows if r.status == Status.DRAFT and not selectors.consent_stands(r)],
        "rows": [r for r in rows if not (r.status == Status.DRAFT and not selectors.consent_stands(r))],
        "live": True,
    })


def context(request, consult, forms: dict) -> dict:
    home = Facility.objects.filter(kind=FacilityKind.HOME).order_by("pk").first()
    consent_given = selectors.consent_stands(consult)
    return {
        # The list of what would be shared (titles only), not its content.
        "attachments": attachment_rows(consult, with_content=False),
        "expert_hospital": home,
        "consent_given": consent_given,
        "can_consent": consult.status in (Status.DRAFT, Status.RETURNED) and not consent_given,
        "live": True,
    }


@patient_page
@require_POST
def consent(request, request_id: int):
    try:
        consult_requests.give_consent(actor=request.user, request_id=request_id)
    except DomainError as exc:
        return detail(request, request_id, error=exc)
    messages.success(request, _("Thank you. Your consent is recorded; the doctor can now send the request."))
    return redirect("teleconsult:request", request_id)
