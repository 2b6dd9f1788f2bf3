"""Each expert's opinion, the lead expert's signed consolidated report, and the referring doctor's acknowledgement.

An expert writes an opinion once they have accepted their assignment and the request is under review: findings,
an impression with ICD-10 codes, recommendations. It is saved as a draft and then submitted; editing a submitted
opinion makes a new version (the old row stays, superseded), which must be submitted again.

The lead expert signs the consolidated report when every accepted expert on the case has submitted an opinion,
with a fresh 6-digit code of their authenticator (a personal act, as a prescription). The report's ``digest`` is
the SHA-256 of its canonical content: any later change to the row is detectable (``verify_digest``). The
referring doctor receives it live and acknowledges it. The report is advice: the treating hospital and doctor
keep the decision.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.accounts.services import verify_second_factor
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.records import icd10

from . import realtime
from .models import Assignment, AssignmentRole, ConsultRequest, Opinion, Report, Status
from .selectors import request_for

MAX_TEXT = 20000
MAX_DIAGNOSES = 12

DISCLAIMER = _("This report is expert advice. The treating hospital and its doctors keep the decision.")


# ---- input ----------------------------------------------------------------------------------------------------


def _text(value, field: str) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if len(text) > MAX_TEXT:
        raise DomainError("too_long", _("This text is too long (at most %(max)s characters).") % {"max": MAX_TEXT},
                          fields={field: _("too long")})
    return text


def coded_diagnoses(diagnoses) -> list[dict]:
    """The ICD-10 codes validated (as ``records.services.add_condition`` does) and stored with their name:
    ``[{"code": "I10", "display": "特发性(原发性)高血压"}]``. Blank entries are skipped, repeats kept once. A
    string is read as codes separated by commas, semicolons or spaces."""
    if diagnoses is None:
        return []
    if isinstance(diagnoses, str):
        diagnoses = re.split(r"[,;，；\s]+", diagnoses)
    if not isinstance(diagnoses, list | tuple):
        raise DomainError("invalid_icd10", _("Give the diagnoses as a list of ICD-10 codes."),
                          fields={"diagnoses": _("a list of ICD-10 codes")})
    result, seen = [], set()
    for raw in diagnoses:
        if isinstance(raw, dict):  # a stored entry handed back (the report form prefilled from opinions)
            raw = raw.get("code", "")
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            code = icd10.lookup(raw)
        except DomainError as exc:  # the error names the form's field of diagnoses (not "code")
            raise DomainError(exc.code, exc.message, fields={"diagnoses": _("unknown ICD-10 code")}) from None
        if code.code in seen:
            continue
        seen.add(code.code)
        result.append({"code": code.code, "display": code.name_zh or code.name_en})
    if len(result) > MAX_DIAGNOSES:
        raise DomainError("too_many_diagnoses", _("Give at most %(max)s diagnoses.") % {"max": MAX_DIAGNOSES},
                          fields={"diagnoses": _("too many")})
    return result


def _active_assignment(request: ConsultRequest, user: User) -> Assignment | None:
    return (Assignment.objects.select_for_update().filter(request=request, expert=user, ended_at__isnull=True)
            .first())


def _require_in_review(request: ConsultRequest) -> None:
    if request.status != Status.IN_REVIEW:
        raise Conflict("not_in_review", _("Opinions are written while the request is under review; it is %(status)s.")
                       % {"status": request.get_status_display()})


def _tell(request: ConsultRequest, users, kind: str, title, body="") -> None:
    """A notification to each user in their own language (the title and body are lazy translations)."""
    for user in users:
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            realtime.tell_users(request, [user], kind, str(title), str(body) % {"number": request.number}
                                if body else "")


# ---- opinions -------------------------------------------------------------------------------------------------


def current_opinions(request: ConsultRequest):
    """The current (not superseded) opinion of each expert, drafts included."""
    return Opinion.objects.filter(request=request, superseded_at__isnull=True).select_related("expert")


def _may(actor: User, request_id, role: str) -> None:
    """404 unless the actor has this role on the request: checked outside the write's transaction, so the audited
    denial stays when the refusal rolls the write back."""
    request_for(actor, request_id, roles=(role,), audit_read=False)


def save_opinion(*, actor: User, request_id: int, findings: str, impression: str, diagnoses: list[str],
                 recommendations: str, submit: bool = False) -> Opinion:
    """Save (and with ``submit`` send to the lead) the expert's opinion. A draft is updated in place; a submitted
    opinion is never changed: editing it makes the next version and supersedes it."""
    _may(actor, request_id, "expert")
    with transaction.atomic():
        return _save_opinion(actor, request_id, findings, impression, diagnoses, recommendations, submit)


def _save_opinion(actor, request_id, findings, impression, diagnoses, recommendations, submit) -> Opinion:
    request, _role = request_for(actor, request_id, roles=("expert",), audit_read=False, for_update=True)
    assignment = _active_assignment(request, actor)
    if assignment is None or assignment.accepted_at is None:
        raise Conflict("not_accepted", _("Accept the consultation before writing an opinion."))
    _require_in_review(request)
    values = {
        "findings": _text(findings, "findings"),
        "impression": _text(impression, "impression"),
        "diagnoses": coded_diagnoses(diagnoses),
        "recommendations": _text(recommendations, "recommendations"),
    }
    if submit and not values["impression"]:
        raise DomainError("impression_required", _("Write your impression before submitting the opinion."),
                          fields={"impression": _("required")})
    now = timezone.now()
    current = (Opinion.objects.select_for_update()
               .filter(request=request, expert=actor, superseded_at__isnull=True).first())
    if current is not None and current.submitted_at is None:
        for key, value in values.items():
            setattr(current, key, value)
        if submit:
            current.submitted_at = now
        current.save()
        opinion, action = current, AuditAction.UPDATE
    else:
        version = 1
        if current is not None:
            Opinion.objects.filter(pk=current.pk).update(superseded_at=now)
            version = current.version + 1
        opinion = Opinion.objects.create(request=request, expert=actor, version=version,
                                         submitted_at=now if submit else None, **values)
        action = AuditAction.CREATE
    audit.record(actor=actor, action=action, obj=opinion, patient_id=request.patient_id,
                 detail={"request": request.pk, "version": opinion.version, "submitted": bool(submit),
                         "codes": [d["code"] for d in values["diagnoses"]]})
    if submit:
        lead = (request.assignments.filter(role=AssignmentRole.LEAD, ended_at__isnull=True)
                .exclude(expert=actor).select_related("expert").first())
        if lead is not None:
            _tell(request, [lead.expert], f"opinion.{actor.pk}.{opinion.version}",
                  _("An expert opinion was submitted"),
                  _("A team member submitted an opinion on consultation %(number)s."))
    realtime.request_changed(request, what="opinion")
    return opinion


# ---- the report -----------------------------------------------------------------------------------------------


def content_of(report: Report) -> dict:
    """What the lead signed, in a canonical form (the digest is over this)."""
    return {
        "request": report.request.number,
        "patient": report.request.patient_id,
        "lead": report.lead_id,
        "findings": report.findings,
        "impression": report.impression,
        "diagnoses": [{"code": d["code"], "display": d["display"]} for d in report.diagnoses],
        "recommendations": report.recommendations,
        "signed_at": report.signed_at.astimezone(UTC).isoformat(),
    }


def digest_of(report: Report) -> str:
    canonical = json.dumps(content_of(report), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_digest(report: Report) -> bool:
    """Is the stored report still what the lead signed?"""
    return bool(report.digest) and digest_of(report) == report.digest


def missing_opinions(request: ConsultRequest) -> list[User]:
    """The accepted, active experts without a current submitted opinion."""
    submitted = set(Opinion.objects.filter(request=request, superseded_at__isnull=True, submitted_at__isnull=False)
                    .values_list("expert_id", flat=True))
    return [a.expert for a in request.assignments.filter(ended_at__isnull=True, accepted_at__isnull=False)
            .select_related("expert").order_by("assigned_at") if a.expert_id not in submitted]


def _ready_to_sign(actor: User, request: ConsultRequest, assignment: Assignment | None, values: dict) -> None:
    if assignment is None or assignment.role != AssignmentRole.LEAD:
        raise DomainError("not_lead", _("Only the lead expert signs the consolidated report."), status=403)
    if assignment.accepted_at is None:
        raise Conflict("not_accepted", _("Accept the consultation before writing an opinion."))
    _require_in_review(request)
    missing = missing_opinions(request)
    if missing:
        raise DomainError(
            "opinions_missing",
            _("Every expert on the case must submit an opinion first. Missing: %(names)s.")
            % {"names": "、".join(u.real_name or u.get_username() for u in missing)},
            status=409,
            fields={str(u.pk): u.real_name or u.get_username() for u in missing},
        )
    for field, message in (("impression", _("Write the impression of the report.")),
                           ("recommendations", _("Write the recommendations of the report."))):
        if not values[field]:
            raise DomainError(f"{field}_required", message, fields={field: _("required")})


def sign_report(*, actor: User, request_id: int, findings: str, impression: str, diagnoses: list[str],
                recommendations: str, otp_code: str) -> Report:
    """The lead expert signs the consolidated report with a fresh 6-digit code: the request is reported, and the
    referring doctor and the patient are told."""
    values = {
        "findings": _text(findings, "findings"),
        "impression": _text(impression, "impression"),
        "diagnoses": coded_diagnoses(diagnoses),
        "recommendations": _text(recommendations, "recommendations"),
    }
    # What signing would refuse is refused before the code is spent (a code is good once); checked again under
    # the lock. The code itself is checked outside the signing transaction: a wrong code counts as a failed
    # attempt even though nothing is signed.
    _may(actor, request_id, "expert")
    with transaction.atomic():
        request, _role = request_for(actor, request_id, roles=("expert",), audit_read=False, for_update=True)
        _ready_to_sign(actor, request, _active_assignment(request, actor), values)
    verify_second_factor(user=actor, code=otp_code)
    with transaction.atomic():
        return _sign(actor, request_id, values)


def _sign(actor: User, request_id: int, values: dict) -> Report:
    request, _role = request_for(actor, request_id, roles=("expert",), audit_read=False, for_update=True)
    _ready_to_sign(actor, request, _active_assignment(request, actor), values)
    if Report.objects.filter(request=request).exists():
        raise Conflict("already_reported", _("This consultation already has a signed report."))
    now = timezone.now()
    report = Report(request=request, lead=actor, signed_at=now, **values)
    report.digest = digest_of(report)
    report.save()
    transition(request, Status.REPORTED, actor=actor, reason="report signed", reported_at=now)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=report, patient_id=request.patient_id,
                 detail={"request": request.pk, "digest": report.digest,
                         "codes": [d["code"] for d in values["diagnoses"]]})
    _tell(request, [request.referring_doctor], "reported", _("The expert report is ready"),
          _("The experts' report on consultation %(number)s is signed. Read and acknowledge it."))
    _tell(request, patient_and_relatives(request.patient), "reported", _("Your consultation report is ready"),
          _("The experts' report on consultation %(number)s is ready. Your doctor will discuss it with you."))
    realtime.request_changed(request, what="report")
    return report


def acknowledge(*, actor: User, request_id: int) -> Report:
    """The referring doctor confirms they have read the report (the treating hospital keeps the decision)."""
    _may(actor, request_id, "referrer")
    with transaction.atomic():
        return _acknowledge(actor, request_id)


def _acknowledge(actor: User, request_id: int) -> Report:
    request, _role = request_for(actor, request_id, roles=("referrer",), audit_read=False, for_update=True)
    if request.status == Status.ACKNOWLEDGED:
        raise Conflict("already_acknowledged", _("You have already acknowledged this report."))
    if request.status != Status.REPORTED:
        raise Conflict("not_reported", _("There is no signed report to acknowledge yet."))
    report = Report.objects.select_for_update().get(request=request)
    now = timezone.now()
    transition(request, Status.ACKNOWLEDGED, actor=actor, reason="report acknowledged", acknowledged_at=now)
    Report.objects.filter(pk=report.pk).update(acknowledged_by=actor, acknowledged_at=now)
    report.acknowledged_by, report.acknowledged_at = actor, now
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=report, patient_id=request.patient_id,
                 detail={"request": request.pk, "acknowledged": True})
    _tell(request, [report.lead], "acknowledged", _("Your report was acknowledged"),
          _("The referring doctor acknowledged the report on consultation %(number)s."))
    realtime.request_changed(request, what="report")
    return report
