"""The signed consultation report as an A4 PDF: the request (who asked, what), the experts, the consolidated
findings, impression with ICD-10 codes and recommendations, the lead's signature with the report's digest, and
the advice disclaimer (on the page and in every footer). Drawn with reportlab alone in the Adobe CID font
``STSong-Light``, as the prescription slip and the test report (every PDF reader carries it). The patient's
resident id is masked.

Who may have it is the view's business (the referrer, the experts on the case, coordinators and admins, the
patient and their proxies once it is signed)."""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from ihospital.core.pdf import FONT, Writer, font, pair
from ihospital.records import icd10

from .models import Report
from .opinions import DISCLAIMER


def _local(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt) if moment else ""


def disclaimer() -> str:
    return str(DISCLAIMER)


def _expert_line(assignment) -> str:
    user = assignment.expert
    practitioner = getattr(user, "practitioner", None)
    title = practitioner.get_title_display() if practitioner is not None else ""
    role = assignment.get_role_display()
    return "  ".join(part for part in (user.real_name or user.get_username(), str(title), f"({role})") if part)


def _diagnosis_line(entry: dict, language: str) -> str:
    name = icd10.known_name(entry.get("code", ""), language) or entry.get("display", "")
    return f"{entry.get('code', '')}  {name}".strip()


def render_report(report: Report, *, compress: bool = True) -> bytes:
    """The PDF (``compress=False`` leaves the page streams readable, for checking them)."""
    font()
    request = report.request
    patient = request.patient
    language = get_language() or settings.LANGUAGE_CODE
    buffer = BytesIO()
    width, height = A4
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1 if compress else 0)
    hospital = settings.HOSPITAL_NAME or _("Internet Hospital")
    title = _("Remote consultation report")
    pdf.setTitle(f"{request.number} · {hospital}")
    pdf.setAuthor(hospital)
    pdf.setSubject(title)
    margin = 18 * mm
    w = Writer(pdf, margin, width - margin, height - margin)
    gap = "    "

    def new_page_if_needed(room: float = 30 * mm):
        if w.y < margin + room:
            _footer(pdf, report, width, margin)
            pdf.showPage()
            w.y = height - margin

    def section(heading: str, body: str):
        new_page_if_needed()
        w.text(heading, 11)
        for paragraph in (body or "—").split("\n"):
            new_page_if_needed(15 * mm)
            w.text(paragraph or " ", 10, indent=4 * mm)
        w.y -= 3

    w.centred(hospital, 15)
    w.centred(title, 12)
    w.text(gap.join([pair(_("Consultation"), request.number), request.get_urgency_display(),
                     request.get_mode_display()]), 10)
    w.rule()
    w.text(gap.join([pair(_("Patient"), patient.real_name), patient.get_sex_display(),
                     _("%(age)s years") % {"age": patient.age()}]), 10)
    w.text(gap.join([pair(_("Resident ID"), patient.masked_resident_id), pair(_("MRN"), patient.mrn)]), 10)
    w.text(pair(_("Requested by"), f"{request.referring_doctor.real_name}, {request.referring_facility.name}"), 10)
    if request.department_id:
        w.text(pair(_("Specialty"), request.department.name), 10)
    w.text(gap.join([pair(_("Sent"), _local(request.submitted_at)),
                     pair(_("Signed"), _local(report.signed_at))]), 10)
    w.rule()
    section(_("Question"), request.question)
    section(_("Case summary"), request.summary)
    w.rule()
    w.text(_("Experts"), 11)
    for assignment in (request.assignments.filter(ended_at__isnull=True, accepted_at__isnull=False)
                       .select_related("expert__practitioner").order_by("role", "assigned_at")):
        # "lead" sorts before "member": the lead first.
        w.text(_expert_line(assignment), 10, indent=4 * mm)
    w.y -= 3
    section(_("Findings"), report.findings)
    section(_("Impression"), report.impression)
    new_page_if_needed()
    w.text(_("Diagnoses (ICD-10)"), 11)
    if report.diagnoses:
        for entry in report.diagnoses:
            new_page_if_needed(15 * mm)
            w.text(_diagnosis_line(entry, language), 10, indent=4 * mm)
    else:
        w.text("—", 10, indent=4 * mm)
    w.y -= 3
    section(_("Recommendations"), report.recommendations)
    new_page_if_needed(40 * mm)
    w.rule()
    w.text(pair(_("Signed by the lead expert"), f"{report.lead.real_name}  {_local(report.signed_at)}"), 10)
    w.text(pair(_("Report digest (SHA-256)"), report.digest), 8)
    if report.acknowledged_at:
        by = report.acknowledged_by.real_name if report.acknowledged_by_id else ""
        w.text(pair(_("Acknowledged"), f"{by}  {_local(report.acknowledged_at)}".strip()), 10)
    w.y -= 4
    w.text(disclaimer(), 11)
    _footer(pdf, report, width, margin)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _footer(pdf: canvas.Canvas, report: Report, width: float, margin: float) -> None:
    pdf.setFont(FONT, 7.5)
    pdf.drawCentredString(width / 2, margin - 6 * mm, _("%(number)s · printed %(at)s · %(advice)s") % {
        "number": report.request.number, "at": _local(timezone.now()), "advice": disclaimer()})
