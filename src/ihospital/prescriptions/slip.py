"""The prescription slip (处方笺): what it shows, as HTML (``templates/prescriptions/slip.html``) and as an A5 PDF.

The PDF is drawn with reportlab alone: Chinese text in the Adobe CID font ``STSong-Light``, which every PDF
reader carries (no font file ships with us), and the QR code drawn module by module from segno's matrix (no
imaging library). The QR code holds the absolute address of the public check, ``/rx/verify/<number>/?h=<first
16 hex digits of the content hash>``: anyone holding the slip can see whether it is genuine and still valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

import segno
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from ihospital.core.pdf import FONT, Writer, font, pair

from .display import unit_label
from .models import Prescription, Review, RxStatus

SEAL_SHOWN = 16  # hex digits of a seal printed on the slip (the content hash is printed in full)


@dataclass
class SlipItem:
    name: str
    quantity: str
    usage: str
    instructions: str


@dataclass
class Slip:
    hospital: str
    department: str
    number: str
    kind: str
    date: str
    patient: str
    sex: str
    age: str
    mrn: str
    diagnosis: str
    items: list[SlipItem]
    notes: str
    guardian: str
    doctor: str
    doctor_seal: str
    content_hash: str
    pharmacist: str
    review_seal: str
    reviewed: str
    valid_until: str
    status: str
    status_label: str
    verify_url: str
    warnings: list[str] = field(default_factory=list)

    def qr_svg(self) -> str:
        return segno.make(self.verify_url, error="m").svg_inline(
            scale=4, border=4, dark="#000", light="#fff", omitsize=True, title=_("Scan to check this prescription")
        )


def _local(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt) if moment else ""


def slip_for(rx: Prescription, verify_url: str) -> Slip:
    """The slip of a signed prescription, in the reader's language."""
    try:
        review = rx.review
    except Review.DoesNotExist:
        review = None
    items = []
    for item in rx.items.select_related("drug").order_by("position", "pk"):
        drug = item.drug
        items.append(SlipItem(
            name=f"{drug.name} {drug.strength}",
            quantity=f"× {item.quantity} {unit_label(drug.package_unit)}",
            usage=_("%(dose)s %(unit)s each time, %(frequency)s, %(route)s, %(days)s days") % {
                "dose": f"{item.dose.normalize():f}", "unit": unit_label(item.dose_unit),
                "frequency": item.get_frequency_display(), "route": item.get_route_display(),
                "days": item.duration_days,
            },
            instructions=item.instructions,
        ))
    warnings = []
    if rx.status in (RxStatus.SIGNED, RxStatus.UNDER_REVIEW):
        warnings.append(_("Not yet reviewed by a pharmacist: medicines cannot be dispensed on this slip yet."))
    elif rx.status in (RxStatus.REJECTED, RxStatus.CANCELLED, RxStatus.EXPIRED):
        warnings.append(_("Not valid: this prescription is %(status)s.") % {"status": rx.get_status_display()})
    patient = rx.patient
    guardian = ""
    if rx.guardian_name:
        guardian = f"{rx.guardian_name} ({rx.guardian_relationship}) {rx.guardian_phone}".strip()
    return Slip(
        hospital=rx.department.facility.name, department=rx.department.name, number=rx.number,
        kind=rx.get_kind_display(), date=_local(rx.signed_at, "%Y-%m-%d"), patient=patient.real_name,
        sex=patient.get_sex_display(), age=_("%(age)s years") % {"age": patient.age()}, mrn=patient.mrn,
        diagnosis=f"{rx.diagnosis_code} {rx.diagnosis_display}", items=items, notes=rx.notes, guardian=guardian,
        doctor=rx.doctor.user.real_name, doctor_seal=rx.doctor_seal[:SEAL_SHOWN], content_hash=rx.content_hash,
        pharmacist=review.pharmacist.real_name if review else "", review_seal=review.seal[:SEAL_SHOWN] if review
        else "", reviewed=_local(review.created_at) if review else "", valid_until=_local(rx.valid_until),
        status=rx.status, status_label=rx.get_status_display(), verify_url=verify_url, warnings=warnings,
    )


# ---- the PDF ------------------------------------------------------------------------------------------------------


def _qr(pdf: canvas.Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code as filled squares, bottom-left corner at (x, y)."""
    rows = list(segno.make(url, error="m").matrix_iter(scale=1, border=4))
    module = size / len(rows)
    pdf.setFillColorRGB(1, 1, 1)
    pdf.rect(x, y, size, size, stroke=0, fill=1)
    pdf.setFillColorRGB(0, 0, 0)
    for row_index, row in enumerate(rows):
        for col_index, dark in enumerate(row):
            if dark:
                pdf.rect(x + col_index * module, y + size - (row_index + 1) * module, module, module, stroke=0,
                         fill=1)


def render_pdf(slip: Slip) -> bytes:
    font()
    buffer = BytesIO()
    width, height = A5
    pdf = canvas.Canvas(buffer, pagesize=A5, pageCompression=1)
    pdf.setTitle(f"{slip.number} · {slip.hospital}")
    pdf.setAuthor(slip.hospital)
    pdf.setSubject(_("Prescription"))
    margin = 12 * mm
    w = Writer(pdf, margin, width - margin, height - margin - 4)

    gap = "    "
    w.centred(slip.hospital, 13)
    w.centred(_("Prescription"), 11)
    w.text(gap.join([pair(_("No."), slip.number), slip.kind, slip.date]), 8.5)
    w.rule()
    w.text(gap.join([pair(_("Patient"), slip.patient), slip.sex, slip.age, pair(_("MRN"), slip.mrn)]), 9)
    w.text(pair(_("Department"), slip.department), 9)
    w.text(pair(_("Diagnosis"), slip.diagnosis), 9)
    if slip.guardian:
        w.text(pair(_("Guardian present"), slip.guardian), 9)
    w.rule()
    w.text("Rp.", 12)
    for n, item in enumerate(slip.items, start=1):
        w.text(f"{n}. {item.name}  {item.quantity}", 10)
        w.text(item.usage, 8.5, indent=5 * mm)
        if item.instructions:
            w.text(item.instructions, 8.5, indent=5 * mm)
        w.y -= 2
    if slip.notes:
        w.text(pair(_("Advice"), slip.notes), 8.5)
    for warning in slip.warnings:
        w.text(warning, 9)

    # The signatures and the QR code share the foot of the page.
    qr_size = 30 * mm
    foot = margin + qr_size + 8 * mm
    w.y = max(min(w.y - 4, foot), margin + 48 * mm)
    w.rule()
    text_width = width - 2 * margin - qr_size - 4 * mm
    w.text(gap.join([pair(_("Doctor"), slip.doctor), pair(_("Signature seal"), slip.doctor_seal)]), 8.5,
           width=text_width)
    w.text(pair(_("Content hash"), slip.content_hash), 7, width=text_width)
    if slip.pharmacist:
        w.text(gap.join([pair(_("Pharmacist"), slip.pharmacist), pair(_("Review seal"), slip.review_seal)]), 8.5,
               width=text_width)
        w.text(pair(_("Reviewed"), slip.reviewed), 8.5, width=text_width)
    w.text(pair(_("Valid until"), slip.valid_until), 8.5, width=text_width)
    _qr(pdf, slip.verify_url, width - margin - qr_size, margin + 4 * mm, qr_size)
    pdf.setFont(FONT, 7)
    pdf.drawCentredString(width - margin - qr_size / 2, margin, _("Scan to check this prescription"))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
