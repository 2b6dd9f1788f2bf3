"""The JSON API of remote expert consultation under ``/api/teleconsult/``: one selector or service call per endpoint.

* Referring doctors (partner facilities): create and edit a request, attach chart items, send, cancel,
  acknowledge the report (also as PDF).
* Patients and their proxies: give the record-sharing consent.
* Coordinators: assign and withdraw experts, return a request for more information; with admins, the monthly
  statement.
* Experts: accept or decline, write the opinion; the lead signs the report (with an authenticator code).
* Everyone: the requests they may see (``GET /requests``) and one request as their role sees it.

Reads go through ``selectors`` (an id the caller may not see answers 404 like one that does not exist, audited).
The patient's view leaves out the clinical question and summary; the fee is shown to the referrer, coordinators
and admins. Every report carries ``advice``: the report is expert advice and the treating hospital keeps the
decision. Refusals are ``{"error": {"code", "message", "fields"?}}`` with a 4xx status (see ``ihospital.api``).
"""

from __future__ import annotations

from datetime import date, datetime

from ninja import Field, Router, Schema, Status

from . import accounting, opinions, selectors, triage
from . import requests as consult_requests
from .models import ConsultRequest, Report
from .models import Status as RequestStatus
from .views_common import ADVICE, attachment_rows, report_of, times

router = Router(tags=["teleconsult"])
FEE_ROLES = ("referrer", "coordinator", "admin")


# ---- schemas ----------------------------------------------------------------------------------------------------


class RequestIn(Schema):
    patient_id: int
    question: str = Field(..., max_length=4000)
    summary: str = Field(..., max_length=20000)
    urgency: str = "routine"
    mode: str = "async"
    department_id: int | None = None
    named_expert_id: int | None = None


class RequestPatch(Schema):
    question: str | None = Field(None, max_length=4000)
    summary: str | None = Field(None, max_length=20000)
    urgency: str | None = None
    mode: str | None = None
    department_id: int | None = None
    named_expert_id: int | None = None


class AttachIn(Schema):
    kind: str
    target_id: int
    note: str = Field("", max_length=200)


class ReasonIn(Schema):
    reason: str = Field(..., max_length=2000)


class AssignIn(Schema):
    expert_id: int
    role: str = "lead"


class OpinionIn(Schema):
    findings: str = Field("", max_length=20000)
    impression: str = Field("", max_length=20000)
    diagnoses: list[str] = []
    recommendations: str = Field("", max_length=20000)
    submit: bool = False


class SignIn(Schema):
    findings: str = Field(..., max_length=20000)
    impression: str = Field(..., max_length=20000)
    diagnoses: list[str] = []
    recommendations: str = Field(..., max_length=20000)
    otp_code: str = Field(..., max_length=8)


class SummaryOut(Schema):
    id: int
    number: str
    status: str
    status_label: str
    urgency: str
    mode: str
    patient_name: str
    referring_facility: str
    department: str | None
    submitted_at: datetime | None
    first_response_due: datetime | None
    report_due: datetime | None


class AttachmentOut(Schema):
    id: int
    kind: str
    title: str
    note: str


class AssignmentOut(Schema):
    id: int
    expert_id: int
    expert_name: str
    role: str
    accepted_at: datetime | None
    ended_at: datetime | None


class ReportOut(Schema):
    lead_name: str
    findings: str | None
    impression: str
    diagnoses: list[dict]
    recommendations: str
    signed_at: datetime
    digest: str
    acknowledged_at: datetime | None
    advice: str


class TimesOut(Schema):
    first_response_minutes: int | None = None
    report_minutes: int | None = None
    overdue: bool = False


class RequestOut(SummaryOut):
    role: str
    patient_id: int
    referring_doctor: str
    named_expert: str | None
    question: str | None
    summary: str | None
    consent_given: bool
    return_reason: str
    first_response_at: datetime | None
    reported_at: datetime | None
    acknowledged_at: datetime | None
    fee_fen: int | None
    attachments: list[AttachmentOut]
    assignments: list[AssignmentOut]
    report: ReportOut | None
    times: TimesOut


class ConsentOut(Schema):
    request_id: int
    consent_id: int
    granted_at: datetime


class OpinionOut(Schema):
    id: int
    version: int
    submitted: bool
    diagnoses: list[dict]


class StatementRowOut(Schema):
    number: str
    reported_on: date
    urgency: str
    mode: str
    department: str
    fee_fen: int


class StatementOut(Schema):
    facility_id: int
    facility: str
    month: str
    count: int
    total_fen: int
    rows: list[StatementRowOut]


# ---- views of a request -------------------------------------------------------------------------------------------


def _summary(c: ConsultRequest) -> dict:
    return {"id": c.pk, "number": c.number, "status": c.status, "status_label": str(c.get_status_display()),
            "urgency": c.urgency, "mode": c.mode, "patient_name": c.patient.real_name,
            "referring_facility": c.referring_facility.name, "department": c.department.name if c.department else None,
            "submitted_at": c.submitted_at, "first_response_due": c.first_response_due, "report_due": c.report_due}


def _report(report: Report | None, role: str) -> dict | None:
    if report is None:
        return None
    return {"lead_name": report.lead.real_name, "findings": None if role == "patient" else report.findings,
            "impression": report.impression, "diagnoses": report.diagnoses, "recommendations": report.recommendations,
            "signed_at": report.signed_at, "digest": report.digest, "acknowledged_at": report.acknowledged_at,
            "advice": str(ADVICE)}


def _view(c: ConsultRequest, role: str) -> dict:
    clinical = role != "patient"
    measured = times(c)
    return {
        **_summary(c), "role": role, "patient_id": c.patient_id, "referring_doctor": c.referring_doctor.real_name,
        "named_expert": c.named_expert.real_name if c.named_expert else None,
        "question": c.question if clinical else None, "summary": c.summary if clinical else None,
        "consent_given": selectors.consent_stands(c), "return_reason": c.return_reason,
        "first_response_at": c.first_response_at, "reported_at": c.reported_at, "acknowledged_at": c.acknowledged_at,
        "fee_fen": c.fee_fen if role in FEE_ROLES else None,
        "attachments": [{"id": r["attachment"].pk, "kind": r["kind"], "title": r["title"], "note": r["note"]}
                        for r in attachment_rows(c, with_content=False)],
        "assignments": [{"id": a.pk, "expert_id": a.expert_id, "expert_name": a.expert.real_name, "role": a.role,
                         "accepted_at": a.accepted_at, "ended_at": a.ended_at}
                        for a in c.assignments.select_related("expert").order_by("assigned_at")] if clinical else [],
        "report": _report(report_of(c), role) if c.status in (RequestStatus.REPORTED, RequestStatus.ACKNOWLEDGED)
        else None,
        "times": {k: measured.get(k) for k in ("first_response_minutes", "report_minutes")}
        | {"overdue": bool(measured.get("overdue"))},
    }


def _reread(user, request_id: int) -> dict:
    c, role = selectors.request_for(user, request_id, audit_read=False)
    return _view(c, role)


# ---- endpoints ----------------------------------------------------------------------------------------------------


@router.get("/requests", response=list[SummaryOut])
def list_requests(request, status: str | None = None):
    """The requests the caller may see in any role (newest first, at most 200); ``status`` filters."""
    qs = selectors.visible(request.auth).select_related(*selectors.REQUEST_RELATED).order_by("-created_at")
    if status:
        qs = qs.filter(status=status)
    return [_summary(c) for c in qs[:200]]


@router.get("/requests/{request_id}", response=RequestOut)
def get_request(request, request_id: int):
    """One request as the caller's role sees it (``role``: referrer, expert, coordinator, admin, patient)."""
    c, role = selectors.request_for(request.auth, request_id)
    return _view(c, role)


@router.post("/requests", response={201: RequestOut})
def create(request, payload: RequestIn):
    """A draft by a partner facility's doctor. 403 ``not_partner_doctor``; 404 a patient not in their care
    (``patient_not_in_care``); 400 ``question_required``, ``summary_required``, ``invalid_urgency``,
    ``invalid_mode``, ``invalid_department``, ``invalid_expert``."""
    c = consult_requests.create_request(actor=request.auth, **payload.dict())
    return Status(201, _reread(request.auth, c.pk))


@router.patch("/requests/{request_id}", response=RequestOut)
def update(request, request_id: int, payload: RequestPatch):
    """The referrer edits a draft or returned request: only the fields sent change (``null`` clears the
    department or the named expert). 409 ``not_editable``; 400 as for creating."""
    consult_requests.update_request(actor=request.auth, request_id=request_id, **payload.dict(exclude_unset=True))
    return _reread(request.auth, request_id)


@router.post("/requests/{request_id}/attachments", response={201: AttachmentOut})
def attach(request, request_id: int, payload: AttachIn):
    """Share an item of the patient's chart (``kind`` document|lab|imaging, ``target_id``). 400
    ``invalid_attachment``; 409 ``already_attached``, ``not_editable``."""
    att = consult_requests.attach(actor=request.auth, request_id=request_id, **payload.dict())
    c, _role = selectors.request_for(request.auth, request_id, audit_read=False)
    row = next(r for r in attachment_rows(c, with_content=False) if r["attachment"].pk == att.pk)
    return Status(201, {"id": att.pk, "kind": att.kind, "title": row["title"], "note": att.note})


@router.post("/requests/{request_id}/consent", response={201: ConsentOut})
def consent(request, request_id: int):
    """The patient (or a proxy) consents to share the record with the expert hospital for this request. 409
    ``consent_already_given``."""
    given = consult_requests.give_consent(actor=request.auth, request_id=request_id)
    return Status(201, {"request_id": request_id, "consent_id": given.pk, "granted_at": given.granted_at})


@router.post("/requests/{request_id}/submit", response=RequestOut)
def submit(request, request_id: int):
    """Send the request. 400 ``consent_required``, ``no_tariff``, ``question_required``; 409 on a wrong status."""
    consult_requests.submit(actor=request.auth, request_id=request_id)
    return _reread(request.auth, request_id)


@router.post("/requests/{request_id}/cancel", response=RequestOut)
def cancel(request, request_id: int, payload: ReasonIn):
    """The referrer cancels before the report. 400 ``reason_required``; 409 once reported."""
    consult_requests.cancel(actor=request.auth, request_id=request_id, reason=payload.reason)
    return _reread(request.auth, request_id)


@router.post("/requests/{request_id}/assign", response={201: AssignmentOut})
def assign(request, request_id: int, payload: AssignIn):
    """A coordinator assigns an expert (``role`` lead|member). 400 ``not_an_expert``, ``lead_first``; 409
    ``lead_exists``, ``already_assigned``."""
    a = triage.assign(actor=request.auth, request_id=request_id, expert_id=payload.expert_id, role=payload.role)
    return Status(201, {"id": a.pk, "expert_id": a.expert_id, "expert_name": a.expert.real_name, "role": a.role,
                        "accepted_at": a.accepted_at, "ended_at": a.ended_at})


@router.post("/assignments/{assignment_id}/withdraw", response=AssignmentOut)
def withdraw(request, assignment_id: int, payload: ReasonIn):
    """A coordinator withdraws an expert from a request (their assignment ends; the row stays)."""
    a = triage.withdraw_assignment(actor=request.auth, assignment_id=assignment_id, reason=payload.reason)
    return {"id": a.pk, "expert_id": a.expert_id, "expert_name": a.expert.real_name, "role": a.role,
            "accepted_at": a.accepted_at, "ended_at": a.ended_at}


@router.post("/requests/{request_id}/return", response=RequestOut)
def return_request(request, request_id: int, payload: ReasonIn):
    """A coordinator returns a sent request to the referrer for more information. 400 ``reason_required``."""
    triage.return_request(actor=request.auth, request_id=request_id, reason=payload.reason)
    return _reread(request.auth, request_id)


@router.post("/requests/{request_id}/accept", response=RequestOut)
def accept(request, request_id: int):
    """The assigned expert accepts (the request's first response)."""
    triage.accept_assignment(actor=request.auth, request_id=request_id)
    return _reread(request.auth, request_id)


@router.post("/requests/{request_id}/decline", response={204: None})
def decline(request, request_id: int, payload: ReasonIn):
    """The assigned expert declines with a reason (they no longer see the request afterwards)."""
    triage.decline_assignment(actor=request.auth, request_id=request_id, reason=payload.reason)
    return Status(204, None)


@router.post("/requests/{request_id}/opinion", response=OpinionOut)
def opinion(request, request_id: int, payload: OpinionIn):
    """Save (or with ``submit`` submit) the caller's opinion. 400 ``invalid_icd10``; 409 ``not_accepted``."""
    o = opinions.save_opinion(actor=request.auth, request_id=request_id, **payload.dict())
    return {"id": o.pk, "version": o.version, "submitted": o.submitted_at is not None, "diagnoses": o.diagnoses}


@router.post("/requests/{request_id}/sign", response=RequestOut)
def sign(request, request_id: int, payload: SignIn):
    """The lead signs the consolidated report with an authenticator code. 403 ``not_lead``; 409
    ``opinions_missing``; 401 for a wrong or missing code."""
    opinions.sign_report(actor=request.auth, request_id=request_id, **payload.dict())
    return _reread(request.auth, request_id)


@router.post("/requests/{request_id}/acknowledge", response=RequestOut)
def acknowledge(request, request_id: int):
    """The referring doctor acknowledges the report."""
    opinions.acknowledge(actor=request.auth, request_id=request_id)
    return _reread(request.auth, request_id)


@router.get("/requests/{request_id}/report.pdf")
def report_pdf(request, request_id: int):
    """The signed report as PDF (with the advice notice), for anyone who may see the request once reported."""
    from django.http import HttpResponse

    from ihospital.core.errors import NotFound

    from . import report_pdf as pdf

    c, _role = selectors.request_for(request.auth, request_id)
    report = report_of(c) if c.status in (RequestStatus.REPORTED, RequestStatus.ACKNOWLEDGED) else None
    if report is None:
        raise NotFound()
    response = HttpResponse(pdf.render_report(report), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{c.number}.pdf"'
    response["Cache-Control"] = "no-store, private"
    return response


@router.get("/statements", response=StatementOut)
def statement(request, facility_id: int, month: str):
    """The month's statement (``month`` YYYY-MM) of a partner facility, for coordinators and admins. 403
    ``not_statement_reader``; 400 ``invalid_month``."""
    s = accounting.statement(actor=request.auth, facility_id=facility_id, month=month)
    return {"facility_id": s.facility.pk, "facility": s.facility.name, "month": s.period, "count": s.count,
            "total_fen": s.total_fen,
            "rows": [{"number": r.number, "reported_on": r.reported_on, "urgency": r.urgency, "mode": r.mode,
                      "department": r.department, "fee_fen": r.fee_fen} for r in s.rows]}
