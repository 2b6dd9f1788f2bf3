"""The signed report as a PDF: what it holds (the request, the experts, the coded impression, the signature and
digest), what it hides (the full resident id), and the advice disclaimer on every page."""

from __future__ import annotations

import pytest
from django.utils import translation

from ihospital.teleconsult import opinions, report_pdf
from tests.teleconsult.test_opinions import code_of, lead_of, members_of, under_review, write

pytestmark = pytest.mark.django_db


def ucs2(text: str) -> bytes:
    """How reportlab writes ASCII text in the CID font: two bytes a character."""
    return "".join(f"\\000{c}" for c in text).encode()


def signed(*, members: int = 1, **values):
    request = under_review(members=members)
    lead = lead_of(request)
    write(lead, request)
    for member in members_of(request):
        write(member, request)
    report = opinions.sign_report(
        actor=lead, request_id=request.pk, findings=values.get("findings", "Exercise ECG: ST depression 2 mm"),
        impression=values.get("impression", "Stable angina"), diagnoses=["I20.9", "I10"],
        recommendations=values.get("recommendations", "Elective coronary angiography"), otp_code=code_of(lead))
    report.refresh_from_db()
    return report


def test_the_pdf_holds_the_report_and_the_disclaimer():
    report = signed()
    with translation.override("en"):
        pdf = report_pdf.render_report(report)
        plain = report_pdf.render_report(report, compress=False)
        advice = str(opinions.DISCLAIMER)
    assert pdf.startswith(b"%PDF") and b"/STSong-Light" in pdf
    request, patient = report.request, report.request.patient
    assert plain.count(ucs2(request.number)) >= 2  # the header line and the footer
    for text in ("Stable angina", "Elective coronary angiography", "I20.9", "I10", report.digest,
                 "Remote consultation report", patient.mrn):
        assert ucs2(text) in plain, text
    # The advice disclaimer: on the page, and whole in the footer.
    assert ucs2(advice) in plain
    assert plain.count(ucs2("This report is expert advice.")) >= 2
    assert ucs2(patient.masked_resident_id[-4:]) in plain
    assert ucs2(patient.resident_id[4:14]) not in plain  # masked


def test_a_long_report_runs_over_pages_with_the_disclaimer_on_each():
    long_text = "\n".join(f"Finding {n}: " + "lesion described at length " * 6 for n in range(60))
    report = signed(members=0, findings=long_text)
    with translation.override("en"):
        plain = report_pdf.render_report(report, compress=False)
        footer = ucs2(str(opinions.DISCLAIMER))
    assert plain.count(b"/Type /Page") - plain.count(b"/Type /Pages") >= 2  # two pages at least
    assert plain.count(footer) >= 2
    assert ucs2("Finding 59:") in plain


def test_the_acknowledgement_appears_once_given():
    report = signed(members=0)
    opinions.acknowledge(actor=report.request.referring_doctor, request_id=report.request_id)
    report.refresh_from_db()
    with translation.override("en"):
        plain = report_pdf.render_report(report, compress=False)
    assert ucs2("Acknowledged") in plain


def test_chinese_text_renders():
    report = signed(members=0, impression="冠心病，稳定型心绞痛")
    with translation.override("zh-hans"):
        pdf = report_pdf.render_report(report)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
