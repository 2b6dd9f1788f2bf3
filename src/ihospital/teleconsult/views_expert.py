"""The experts' pages (verified senior doctors of the home hospital): my cases, and on a case's page the summary,
the question, the shared material (documents to download, lab values, image previews), accepting or declining
the assignment, the opinion form, and for the lead the consolidated report prefilled from the team's submitted
opinions, signed with a fresh authenticator code.

Documents and images are served here through ``selectors.attachment_for`` (the expert has no care relationship
with the patient: the consultation's assignment and the patient's consent are what entitle them).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ihospital.core import audit
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error, role_page

from . import opinions, selectors, triage
from .forms import OpinionForm, ReasonForm, ScheduleForm, SignForm
from .models import AssignmentRole, AttachmentKind, Status
from .views_common import attachment_rows, current_opinions, detail, is_expert

expert_page = role_page(is_expert, "not_an_expert",
                        gettext_lazy("This page is for the home hospital's consultation experts."))
OPINION_FIELDS = {"diagnoses": "diagnoses", "findings": "findings", "impression": "impression",
                  "recommendations": "recommendations", "otp_code": "otp_code", "code": "otp_code"}


@expert_page
@require_GET
def cases(request):
    rows = list(selectors.assigned_to(request.user).order_by("report_due", "-submitted_at")[:200])
    mine = {a.request_id: a for a in request.user.consult_assignments.filter(ended_at__isnull=True)}
    items = [{"consult": c, "assignment": mine.get(c.pk)} for c in rows]
    return render(request, "teleconsult/expert_cases.html", {
        "todo": [i for i in items if i["consult"].status in (Status.ASSIGNED, Status.IN_REVIEW)],
        "done": [i for i in items if i["consult"].status not in (Status.ASSIGNED, Status.IN_REVIEW)],
        "live": True,
    })


def _codes_text(diagnoses) -> str:
    return ", ".join(d.get("code", "") for d in diagnoses or [] if isinstance(d, dict))


def context(request, consult, forms: dict) -> dict:
    mine = consult.assignments.filter(expert=request.user, ended_at__isnull=True).first()
    accepted = mine is not None and mine.accepted_at is not None
    is_lead = mine is not None and mine.role == AssignmentRole.LEAD
    team = list(consult.assignments.filter(ended_at__isnull=True).select_related("expert").order_by("assigned_at"))
    opinions_now = current_opinions(consult)
    own = next((o for o in opinions_now if o.expert_id == request.user.pk), None)
    submitted = [o for o in opinions_now if o.submitted_at is not None]
    in_review = consult.status == Status.IN_REVIEW
    opinion_form = forms.get("opinion") or OpinionForm(initial={
        "findings": own.findings if own else "", "impression": own.impression if own else "",
        "diagnoses": _codes_text(own.diagnoses) if own else "",
        "recommendations": own.recommendations if own else ""})
    sign_form = None
    if is_lead and accepted and in_review:
        # Prefilled from the team's submitted opinions, the lead's own first.
        ordered = sorted(submitted, key=lambda o: o.expert_id != request.user.pk)
        many = len(ordered) > 1

        def joined(field):
            parts = [getattr(o, field).strip() for o in ordered if getattr(o, field).strip()]
            if many:
                parts = [f"[{o.expert.real_name}] {getattr(o, field).strip()}" for o in ordered
                         if getattr(o, field).strip()]
            return "\n\n".join(parts)

        codes = []
        for o in ordered:
            for d in o.diagnoses or []:
                if isinstance(d, dict) and d.get("code") and d["code"] not in codes:
                    codes.append(d["code"])
        sign_form = forms.get("sign") or SignForm(initial={
            "findings": joined("findings"), "impression": joined("impression"), "diagnoses": ", ".join(codes),
            "recommendations": joined("recommendations")})
    waiting_for = [a.expert for a in team if a.accepted_at is not None
                   and not any(o.expert_id == a.expert_id for o in submitted)]
    return {
        "attachments": attachment_rows(consult, with_content=True),
        "mine": mine, "accepted": accepted, "is_lead": is_lead, "team": team,
        "can_accept": mine is not None and not accepted and consult.status in (Status.ASSIGNED, Status.IN_REVIEW),
        "can_write": accepted and in_review,
        "own_opinion": own, "opinions": submitted if is_lead else [o for o in submitted
                                                                    if o.expert_id == request.user.pk],
        "opinion_form": opinion_form, "sign_form": sign_form, "waiting_for": waiting_for,
        "decline_form": forms.get("decline") or ReasonForm(),
        "can_schedule": is_lead and consult.status in (Status.ASSIGNED, Status.IN_REVIEW),
        "schedule_form": forms.get("schedule") or ScheduleForm(),
        "live": True,
    }


def _act(request, request_id: int, call, done: str, form=None, form_name: str = ""):
    try:
        call()
    except DomainError as exc:
        if form is not None:
            apply_domain_error(form, exc, OPINION_FIELDS)
        return detail(request, request_id, error=exc, forms={form_name: form} if form is not None else None)
    messages.success(request, done)
    return redirect("teleconsult:request", request_id)


@expert_page
@require_POST
def accept(request, request_id: int):
    return _act(request, request_id, lambda: triage.accept_assignment(actor=request.user, request_id=request_id),
                _("You accepted the case. The referring doctor has been told."))


@expert_page
@require_POST
def decline(request, request_id: int):
    form = ReasonForm(request.POST)
    reason = request.POST.get("reason", "")
    try:
        triage.decline_assignment(actor=request.user, request_id=request_id, reason=reason)
    except DomainError as exc:
        apply_domain_error(form, exc)
        return detail(request, request_id, error=exc, forms={"decline": form})
    messages.success(request, _("You declined the case. The coordinators have been told."))
    return redirect("teleconsult:cases")


@expert_page
@require_POST
def opinion(request, request_id: int):
    form = OpinionForm(request.POST)
    if not form.is_valid():
        exc = DomainError("invalid_input", gettext_lazy("Some fields are missing or not valid."), status=400)
        return detail(request, request_id, error=exc, forms={"opinion": form})
    data, submit = form.cleaned_data, request.POST.get("action") == "submit"
    return _act(request, request_id, lambda: opinions.save_opinion(
        actor=request.user, request_id=request_id, findings=data["findings"], impression=data["impression"],
        diagnoses=form.codes(), recommendations=data["recommendations"], submit=submit),
        _("Opinion submitted to the lead expert.") if submit else _("Draft opinion saved."), form, "opinion")


@expert_page
@require_POST
def sign(request, request_id: int):
    form = SignForm(request.POST)
    if not form.is_valid():
        exc = DomainError("invalid_input", gettext_lazy("Some fields are missing or not valid."), status=400)
        return detail(request, request_id, error=exc, forms={"sign": form})
    data = form.cleaned_data
    return _act(request, request_id, lambda: opinions.sign_report(
        actor=request.user, request_id=request_id, findings=data["findings"], impression=data["impression"],
        diagnoses=form.codes(), recommendations=data["recommendations"], otp_code=data["otp_code"]),
        _("Report signed and sent to the referring doctor."), form, "sign")


# ---- the shared material ------------------------------------------------------------------------------------------


@require_GET
def attachment(request, attachment_id: int):
    """A shared document, as a download (the chart's own safe headers)."""
    from ihospital.records.api import document_response

    if not request.user.is_authenticated:
        raise NotFound()
    att, _role = selectors.attachment_for(request.user, attachment_id)
    if att.kind != AttachmentKind.DOCUMENT:
        raise NotFound()
    return document_response(att.document)


@require_GET
def attachment_preview(request, attachment_id: int, instance_id: int):
    """A PNG of one image of a shared imaging study (window/level: ``?wl=centre,width``)."""
    from ihospital.diagnostics import dicom, dicom_storage

    if not request.user.is_authenticated:
        raise NotFound()
    att, _role = selectors.attachment_for(request.user, attachment_id)
    instance = att.study.instances.filter(pk=instance_id).first() if att.kind == AttachmentKind.IMAGING else None
    if instance is None:
        raise NotFound()
    centre = width = None
    raw = (request.GET.get("wl") or "").strip()
    if raw:
        try:
            centre, width = (float(p) for p in raw.replace("/", ",").split(","))
        except ValueError:
            return HttpResponse(_("The window is not valid."), status=400, content_type="text/plain; charset=utf-8")
    try:
        data = dicom_storage.load(instance.storage_name, instance.sha256)
        png = dicom.render(dicom.read(data).dataset, center=centre, width=width, size=512)
    except DomainError as exc:
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    audit.read(request.user, instance, patient_id=att.request.patient_id,
               detail={"via": "teleconsult", "attachment": att.pk})
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "no-store, private"
    return response
