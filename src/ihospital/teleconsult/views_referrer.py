"""The referring doctor's pages (a verified doctor at a partner facility): my requests, a new request, editing a
draft (or a returned request) with items picked from the chart or uploaded, sending it, cancelling it, and
reading and acknowledging the signed report (also as PDF).

Every act is one service call (``requests``, ``opinions``); a refusal re-renders the request's page with the
service's message and status. The request's page itself is role-aware (``views_common.detail``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error, role_page
from ihospital.diagnostics.models import DiagnosticKind, DiagnosticOrder, ImagingStudy, OrderStatus
from ihospital.directory.models import Department, FacilityKind
from ihospital.records import selectors as records_selectors
from ihospital.records.models import Document

from . import opinions, report_pdf, selectors, triage
from . import requests as consult_requests
from .forms import AttachForm, ReasonForm, RequestForm, UploadForm
from .models import AttachmentKind, Status
from .views_common import detail, is_board_user, is_expert, is_partner_doctor, page_error

referrer_page = role_page(is_partner_doctor, "not_partner_doctor",
                          gettext_lazy("This page is for doctors of partner hospitals."))
EDITABLE = (Status.DRAFT, Status.RETURNED)
FIELD_MAP = {"patient_id": "patient", "department_id": "department", "named_expert_id": "named_expert"}


@require_GET
def home(request):
    """/teleconsult/: each role's own starting page."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if is_board_user(user):
        return redirect("teleconsult:board")
    if is_partner_doctor(user):
        return redirect("teleconsult:mine")
    if is_expert(user):
        return redirect("teleconsult:cases")
    if user.role == Role.PATIENT:
        return redirect("teleconsult:patient_home")
    raise NotFound()


@referrer_page
@require_GET
def mine(request):
    rows = list(selectors.referred_by(request.user).order_by("-created_at")[:200])
    return render(request, "teleconsult/referrer_list.html", {
        "open": [r for r in rows if r.status not in (Status.ACKNOWLEDGED, Status.CANCELLED)],
        "closed": [r for r in rows if r.status in (Status.ACKNOWLEDGED, Status.CANCELLED)],
    })


def _choices():
    departments = Department.objects.filter(facility__kind=FacilityKind.HOME).order_by("code")
    return {"departments": departments, "experts": triage.experts()}


@referrer_page
@require_http_methods(["GET", "POST"])
def new(request):
    patients = records_selectors.patients_in_care(request.user).order_by("user__real_name")
    form = RequestForm(request.POST or None, patients=patients, initial={"patient": request.GET.get("patient")},
                       **_choices())
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                consult = consult_requests.create_request(
                    actor=request.user, patient_id=data["patient"], question=data["question"],
                    summary=data["summary"], urgency=data["urgency"], mode=data["mode"],
                    department_id=data["department"], named_expert_id=data["named_expert"])
            except DomainError as exc:
                apply_domain_error(form, exc, FIELD_MAP)
                status = exc.status
            else:
                messages.success(request, _("Draft saved: %(number)s. Now attach the case material.")
                                 % {"number": consult.number})
                return redirect("teleconsult:request", consult.pk)
        else:
            status = 400
    return render(request, "teleconsult/request_form.html", {"form": form, "creating": True}, status=status)


@referrer_page
@require_http_methods(["GET", "POST"])
def edit(request, request_id: int):
    consult, _role = selectors.request_for(request.user, request_id, roles=("referrer",))
    initial = {"question": consult.question, "summary": consult.summary, "urgency": consult.urgency,
               "mode": consult.mode, "department": consult.department_id, "named_expert": consult.named_expert_id}
    form = RequestForm(request.POST or None, initial=initial, **_choices())
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                consult_requests.update_request(
                    actor=request.user, request_id=consult.pk, question=data["question"], summary=data["summary"],
                    urgency=data["urgency"], mode=data["mode"], department_id=data["department"],
                    named_expert_id=data["named_expert"])
            except DomainError as exc:
                apply_domain_error(form, exc, FIELD_MAP)
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect("teleconsult:request", consult.pk)
        else:
            status = 400
    return render(request, "teleconsult/request_form.html", {"form": form, "consult": consult, "creating": False},
                  status=status)


@require_GET
def request_page(request, request_id: int):
    """The role-aware page of one request (also the notifications' link)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return detail(request, request_id)


def _act(request, request_id: int, call, done: str, *, form=None, form_name: str = ""):
    """Run one service call; on refusal re-render the request's page with its message (and the posted form)."""
    try:
        call()
    except DomainError as exc:
        if form is not None:
            apply_domain_error(form, exc)
        return detail(request, request_id, error=exc, forms={form_name: form} if form is not None else None)
    if done:
        messages.success(request, done)
    return redirect("teleconsult:request", request_id)


@referrer_page
@require_POST
def attach(request, request_id: int):
    form = AttachForm(request.POST)
    if not form.is_valid():
        return detail(request, request_id, error=DomainError("invalid_attachment", gettext_lazy(
            "Choose an item of the patient's chart to attach."), status=400))
    data = form.cleaned_data
    return _act(request, request_id, lambda: consult_requests.attach(
        actor=request.user, request_id=request_id, kind=data["kind"], target_id=data["target_id"],
        note=data["note"]), _("Attached."))


@referrer_page
@require_POST
def upload(request, request_id: int):
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return detail(request, request_id, error=DomainError("invalid_upload", gettext_lazy(
            "Choose a file and give it a title."), status=400), forms={"upload": form})
    data = form.cleaned_data
    return _act(request, request_id, lambda: consult_requests.upload_attachment(
        actor=request.user, request_id=request_id, file=data["file"], title=data["title"],
        doc_kind=data["doc_kind"]), _("Uploaded and attached."), form=form, form_name="upload")


@referrer_page
@require_POST
def remove_attachment(request, request_id: int, attachment_id: int):
    return _act(request, request_id, lambda: consult_requests.remove_attachment(
        actor=request.user, attachment_id=attachment_id), _("Removed from the request."))


@referrer_page
@require_POST
def submit(request, request_id: int):
    return _act(request, request_id, lambda: consult_requests.submit(actor=request.user, request_id=request_id),
                _("Sent to the expert hospital. You will be told when experts respond."))


@referrer_page
@require_POST
def cancel(request, request_id: int):
    form = ReasonForm(request.POST)
    reason = request.POST.get("reason", "")
    return _act(request, request_id, lambda: consult_requests.cancel(
        actor=request.user, request_id=request_id, reason=reason), _("The request was cancelled."),
        form=form, form_name="cancel")


@referrer_page
@require_POST
def acknowledge(request, request_id: int):
    return _act(request, request_id, lambda: opinions.acknowledge(actor=request.user, request_id=request_id),
                _("Report acknowledged."))


@require_GET
def report_pdf_view(request, request_id: int):
    """The signed report as PDF, for anyone who may read it (not the coordinator before it exists)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    consult, _role = selectors.request_for(request.user, request_id)
    report = getattr(consult, "report", None) if consult.status in (Status.REPORTED, Status.ACKNOWLEDGED) else None
    if report is None:
        raise NotFound()
    response = HttpResponse(report_pdf.render_report(report), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{consult.number}.pdf"'
    response["Cache-Control"] = "no-store, private"
    return response


# ---- the referrer's side of the request page ----------------------------------------------------------------


def _picker(consult) -> dict:
    """Items of the patient's chart that can still be attached (the services check them again)."""
    attached = consult.attachments.filter(removed_at__isnull=True)
    docs_taken = set(attached.filter(kind=AttachmentKind.DOCUMENT).values_list("document_id", flat=True))
    orders_taken = set(attached.filter(kind=AttachmentKind.LAB).values_list("order_id", flat=True))
    studies_taken = set(attached.filter(kind=AttachmentKind.IMAGING).values_list("study_id", flat=True))
    documents = [d for d in Document.objects.filter(patient=consult.patient, entered_in_error=False)
                 .order_by("-recorded_at")[:50] if d.pk not in docs_taken]
    labs = [o for o in DiagnosticOrder.objects.filter(
        patient=consult.patient, status__in=(OrderStatus.RESULTED, OrderStatus.RELEASED))
        .exclude(test__kind=DiagnosticKind.IMAGING).select_related("test").order_by("-ordered_at")[:50]
        if o.pk not in orders_taken]
    studies = [s for s in ImagingStudy.objects.filter(order__patient=consult.patient)
               .select_related("order__test").order_by("-order__ordered_at")[:50] if s.pk not in studies_taken]
    return {"documents": documents, "labs": labs, "studies": studies}


def context(request, consult, forms: dict) -> dict:
    from .views_common import attachment_rows, times

    editable = consult.status in EDITABLE
    ctx = {
        "attachments": attachment_rows(consult, with_content=True),
        "editable": editable,
        "consent_given": selectors.consent_stands(consult),
        "can_submit": editable,
        "can_cancel": consult.status not in (Status.REPORTED, Status.ACKNOWLEDGED, Status.CANCELLED),
        "can_acknowledge": consult.status == Status.REPORTED,
        "upload_form": forms.get("upload") or UploadForm(),
        "cancel_form": forms.get("cancel") or ReasonForm(),
        "times": times(consult),
        "assignments": list(consult.assignments.filter(ended_at__isnull=True).select_related("expert")),
        "live": True,
    }
    if editable:
        # Chart access is the referrer's through their care of the patient (checked and audited here).
        try:
            records_selectors.patient_for(request.user, consult.patient_id)
        except NotFound:
            ctx["picker"] = None
        else:
            ctx["picker"] = _picker(consult)
    return ctx


__all__ = ["home", "mine", "new", "edit", "request_page", "attach", "upload", "remove_attachment", "submit",
           "cancel", "acknowledge", "report_pdf_view", "context", "page_error"]
