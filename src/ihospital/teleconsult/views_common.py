"""What the consultation pages share: who is who, the one role-aware page of a request (``detail``) and the case
material (attachments with their lab values and image previews) every role sees in the same way.

A request has one address, ``/teleconsult/requests/<id>/`` (the notifications link there): the page asks
``selectors.request_for`` for the user's role on it and shows the referrer's, the expert's, the coordinator's or
the patient's view of it. Anyone else gets 404 (audited by the selector).
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError
from ihospital.directory.models import FacilityKind

from . import selectors
from .models import AttachmentKind, Opinion, Report, Status
from .opinions import DISCLAIMER

ADVICE = DISCLAIMER  # one sentence on pages, API and PDF


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "code": exc.code, "link": getattr(exc, "link", "")}


def practitioner(user):
    return getattr(user, "practitioner", None) if user.is_authenticated else None


def is_partner_doctor(user) -> bool:
    doctor = practitioner(user) if user.is_authenticated and user.role == Role.DOCTOR else None
    return doctor is not None and doctor.verified_at is not None and doctor.facility.kind == FacilityKind.PARTNER


def is_expert(user) -> bool:
    doctor = practitioner(user) if user.is_authenticated and user.role == Role.DOCTOR else None
    return (doctor is not None and doctor.verified_at is not None and doctor.facility.kind == FacilityKind.HOME
            and doctor.title in settings.TELECONSULT_EXPERT_TITLES)


def is_board_user(user) -> bool:
    return user.is_authenticated and user.role in (Role.COORDINATOR, Role.ADMIN)


# ---- the case material ------------------------------------------------------------------------------------------


def attachment_rows(consult, *, with_content: bool) -> list[dict]:
    """The shared items (not removed). ``with_content`` adds lab values and image previews (for whoever reviews
    the case: the referrer, the experts; the coordinator and the patient see the list only)."""
    rows = []
    for att in consult.attachments.filter(removed_at__isnull=True).select_related(
            "document", "order__test", "study__order__test"):
        row = {"attachment": att, "kind": att.kind, "kind_label": att.get_kind_display(), "note": att.note,
               "lab": [], "images": [], "findings": "", "impression": ""}
        if att.kind == AttachmentKind.DOCUMENT:
            row["title"] = att.document.title
            row["when"] = att.document.recorded_at
            row["download"] = reverse("teleconsult:attachment", args=[att.pk])
        elif att.kind == AttachmentKind.LAB:
            row["title"] = f"{att.order.test.name} · {att.order.number}"
            row["when"] = att.order.released_at or att.order.ordered_at
            if with_content:
                row["lab"] = lab_rows(att.order)
        else:
            order = att.study.order
            row["title"] = f"{order.test.name} · {order.number}"
            row["when"] = att.study.study_date or order.ordered_at
            if with_content:
                row["findings"], row["impression"] = att.study.findings, att.study.impression
                row["images"] = [
                    {"url": reverse("teleconsult:attachment_preview", args=[att.pk, inst.pk]),
                     "number": inst.instance_number}
                    for inst in att.study.instances.all()[:24]]
        rows.append(row)
    return rows


def lab_rows(order) -> list[dict]:
    from ihospital.diagnostics.flags import fmt
    from ihospital.diagnostics.models import Flag
    from ihospital.diagnostics.results import current_observations

    labels = dict(Flag.choices)
    rows = []
    for obs in current_observations(order):
        value = fmt(obs.value) if obs.value is not None else obs.text
        rows.append({"name": obs.analyte.name, "value": value, "unit": obs.unit, "flag": obs.flag,
                     "flag_label": labels.get(obs.flag, obs.flag), "abnormal": obs.flag != Flag.NORMAL,
                     "reference": obs.reference})
    return rows


def report_of(consult) -> Report | None:
    return Report.objects.filter(request=consult).select_related("lead", "acknowledged_by").first()


def current_opinions(consult, *, submitted_only: bool = False):
    qs = Opinion.objects.filter(request=consult, superseded_at__isnull=True).select_related("expert")
    if submitted_only:
        qs = qs.filter(submitted_at__isnull=False)
    return list(qs.order_by("expert__real_name"))


def times(consult) -> dict:
    """Time to first response and to report, and the minutes left to each running deadline
    (``metrics.response_times``)."""
    from . import metrics

    measured = metrics.response_times(consult)
    # Which running deadline has passed (each line of the page marks its own).
    for key, left in (("first_overdue", "first_response_left_minutes"), ("report_overdue", "report_left_minutes")):
        measured[key] = measured.get(left) is not None and measured[left] < 0
    return measured


def sessions_of(consult, role: str) -> list:
    qs = consult.sessions.all().order_by("starts_at")
    if role == "patient":
        qs = qs.filter(include_patient=True)
    return list(qs)


# ---- the one page of a request ------------------------------------------------------------------------------------


def detail(request, request_id, *, error: DomainError | None = None, forms: dict | None = None):
    """The role-aware page of one request (re-rendered with a service's refusal and the posted forms)."""
    from . import views_board, views_expert, views_patient, views_referrer

    consult, role = selectors.request_for(request.user, request_id)
    builders = {"referrer": views_referrer.context, "expert": views_expert.context,
                "coordinator": views_board.request_context, "admin": views_board.request_context,
                "patient": views_patient.context}
    context = {
        "consult": consult, "role": role, "advice": ADVICE, "statuses": Status,
        "report": report_of(consult) if consult.status in (Status.REPORTED, Status.ACKNOWLEDGED) else None,
        "sessions": sessions_of(consult, role),
        "page_error": page_error(error) if error is not None else None,
    }
    context.update(builders[role](request, consult, forms or {}))
    return render(request, f"teleconsult/request_{'board' if role == 'admin' else role}.html"
                  if role != "coordinator" else "teleconsult/request_board.html", context,
                  status=error.status if error is not None else 200)
