"""The report of one medical test as an A4 PDF: the lab values with their flags and references, or the imaging
report. Drawn with reportlab alone, in the Adobe CID font ``STSong-Light`` (as the prescription slip: every PDF
reader carries it, no font file ships with us). The patient's resident id is masked.

Who may have it is the view's business (a patient only after release)."""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from ihospital.core.pdf import FONT, Writer, font, pair

from . import flags
from .models import DiagnosticKind, DiagnosticOrder, Flag, ImagingStudy, OrderStatus
from .results import current_observations


def _local(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt) if moment else ""


def _value(obs) -> str:
    return flags.fmt(obs.value) if obs.value is not None else obs.text


def render(order: DiagnosticOrder, *, compress: bool = True) -> bytes:
    """The PDF (``compress=False`` leaves the page streams readable, for checking them)."""
    font()
    buffer = BytesIO()
    width, height = A4
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1 if compress else 0)
    hospital = settings.HOSPITAL_NAME or _("Internet Hospital")
    pdf.setTitle(f"{order.number} · {hospital}")
    pdf.setAuthor(hospital)
    pdf.setSubject(_("Test report"))
    margin = 18 * mm
    w = Writer(pdf, margin, width - margin, height - margin)
    gap = "    "
    patient = order.patient

    def new_page_if_needed():
        if w.y < margin + 30 * mm:
            _footer(pdf, order, width, margin)
            pdf.showPage()
            w.y = height - margin

    w.centred(hospital, 15)
    w.centred(_("Test report"), 12)
    w.text(gap.join([pair(_("Order"), order.number), order.test.name]), 10)
    w.rule()
    w.text(gap.join([pair(_("Patient"), patient.real_name), patient.get_sex_display(),
                     _("%(age)s years") % {"age": patient.age()}]), 10)
    w.text(gap.join([pair(_("Resident ID"), patient.masked_resident_id), pair(_("MRN"), patient.mrn)]), 10)
    w.text(pair(_("Ordered by"), order.doctor.user.real_name), 10)
    w.text(gap.join([pair(_("Ordered"), _local(order.ordered_at)),
                     pair(_("Released"), _local(order.released_at) or _("not yet"))]), 10)
    w.rule()

    if order.test.kind == DiagnosticKind.LAB:
        cols = [margin, margin + 62 * mm, margin + 92 * mm, margin + 116 * mm, margin + 140 * mm]
        heads = [_("Analyte"), _("Value"), _("Unit"), _("Flag"), _("Reference")]
        pdf.setFont(FONT, 9.5)
        for x, head in zip(cols, heads, strict=True):
            pdf.drawString(x, w.y, head)
        w.y -= 14
        labels = dict(Flag.choices)
        for obs in current_observations(order):
            new_page_if_needed()
            pdf.setFont(FONT, 9.5)
            flag = "" if obs.flag == Flag.NORMAL else obs.flag
            cells = [obs.analyte.name, _value(obs), obs.unit, flag, obs.reference]
            for x, cell in zip(cols, cells, strict=True):
                pdf.drawString(x, w.y, str(cell)[:28])
            if flag:
                pdf.setFont(FONT, 7)
                pdf.drawString(cols[3] + 7 * mm, w.y, str(labels.get(obs.flag, ""))[:9])
            w.y -= 13
        w.y -= 4
        w.text(_("H high, L low, HH critically high, LL critically low, A abnormal."), 8)
    else:
        study = ImagingStudy.objects.filter(order=order).first()
        if study is not None:
            if study.study_date:
                w.text(pair(_("Exam date"), study.study_date.isoformat()), 10)
            w.text(_("Findings"), 11)
            w.text(study.findings or "—", 10, indent=4 * mm)
            new_page_if_needed()
            w.text(_("Impression"), 11)
            w.text(study.impression or "—", 10, indent=4 * mm)
            if study.reported_by_id:
                w.text(pair(_("Reported by"), study.reported_by.real_name), 10)
    w.rule()
    if order.status == OrderStatus.RELEASED:
        releaser = order.released_by.real_name if order.released_by_id else _("released automatically")
        w.text(pair(_("Released by"), releaser), 10)
    _footer(pdf, order, width, margin)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _footer(pdf: canvas.Canvas, order: DiagnosticOrder, width: float, margin: float) -> None:
    pdf.setFont(FONT, 7.5)
    pdf.drawCentredString(width / 2, margin - 6 * mm, _(
        "%(number)s · printed %(at)s · This report is for reference; discuss it with your doctor.") % {
        "number": order.number, "at": _local(timezone.now())})
