"""The patient's home nursing pages with Django's test client: the catalogue, booking (with uploads, "find on map",
refusals shown in place with their code and a 4xx status, a follow-up prefilled), my requests and one request
(cancel, confirm or dispute, pay at the sandbox, rate), for the patient and for a relative acting for them, in
Chinese and English. Someone else's request answers 404 everywhere. The rules themselves are tested in
``test_booking.py``; the journey in a browser in ``tests/e2e/test_homecare_patient.py``."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.homecare import visiting
from ihospital.homecare.models import NursingRequest, Rating, RequestStatus
from ihospital.records.models import Document
from tests.homecare import factories as f
from tests.web.test_prescription_pages import page, signed_in

pytestmark = pytest.mark.django_db

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BOOK = "/homecare/book/wound_dressing/"


def speaking(user, language: str):
    user.language = language
    user.save(update_fields=["language"])
    return signed_in(user)


def acting_for(relative, patient, language: str = "zh-hans"):
    client = speaking(relative, language)
    assert client.post("/accounts/act-for/", {"patient_id": patient.pk, "next": "/homecare/"}).status_code == 302
    return client


def form(**changes) -> dict:
    data = {"group": "elderly", "address": f.ADDRESS, "address_detail": "2单元 501", "contact_name": "李小红",
            "contact_phone": "13912345678", "preferred_date": f.tomorrow().isoformat(), "window_start": "09:00",
            "window_end": "12:00", "condition_note": "骶尾部压伤，渗液不多", "consent": "on"}
    return {k: v for k, v in (data | changes).items() if v is not None}


def stored_files() -> set[str]:
    root = Path(settings.PRIVATE_STORAGE_ROOT) / "documents"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def error_code(html: str) -> str:
    found = re.search(r'data-testid="(?:booking|page|locate)-error" data-code="([a-z_]+)"', html)
    return found.group(1) if found else ""


# ---- pages render ------------------------------------------------------------------------------------------------


def test_the_catalogue_is_public_and_a_patient_can_book_from_it(client, elder):
    html = page(client.get("/homecare/"))
    assert "伤口换药" in html and "¥80.00" in html and 'data-testid="book-wound_dressing"' not in html
    assert 'data-testid="service-picc_care"' in html and "PICC" in html
    mine = page(signed_in(elder.user).get("/homecare/"))
    assert 'href="/homecare/book/wound_dressing/"' in mine and 'data-testid="no-open-requests"' in mine


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("who", ["patient", "relative"])
def test_every_page_renders_for_the_patient_and_a_relative(elder, relative, nurse, language, who):
    req = f.booked(elder, actor=relative)
    client = speaking(elder.user, language) if who == "patient" else acting_for(relative, elder, language)
    name = "Wound dressing" if language == "en" else "伤口换药"
    home = page(client.get("/homecare/"))
    assert f'data-testid="open-request-{req.pk}"' in home and name in home
    book = client.get(BOOK)
    assert book.status_code == 200
    html = page(book)
    assert elder.real_name in re.search(r'data-testid="booking-for">(.*?)</p>', html, re.S).group(1)
    assert 'name="group" value="elderly" checked' in html  # 70: the hospital sees the group already
    assert 'data-testid="consent-text"' in html and 'name="consent"' in html
    assert f'min="{f.tomorrow().isoformat()}"' in html
    listing = page(client.get("/homecare/requests/"))
    assert f'data-testid="request-{req.pk}" data-status="requested"' in listing
    assert "homecare/live.js" in listing and "data-hc-refresh" in listing
    detail = page(client.get(f"/homecare/requests/{req.pk}/"))
    assert 'data-testid="request-status" data-status="requested"' in detail and req.number in detail
    assert f'hx-get="/homecare/requests/{req.pk}/status/"' in detail
    part = page(client.get(f"/homecare/requests/{req.pk}/status/"))
    assert "<html" not in part and 'data-status="requested"' in part
    assert "<html" not in page(client.get("/homecare/requests/?part=list"))


def test_the_nurse_and_planned_time_show_without_the_nurses_phone(elder, nurse):
    req = f.accepted(f.booked(elder), nurse)
    visit = f.scheduled(req, nurse)
    html = page(signed_in(elder.user).get(f"/homecare/requests/{req.pk}/"))
    assert 'data-status="scheduled"' in html and nurse.real_name in html and "主管护师" in html
    assert timezone.localtime(visit.planned_start).strftime("%H:%M") in html
    assert nurse.home_nurse.phone not in html


def test_a_declined_request_says_why_kindly(elder, nurse):
    from ihospital.homecare import assessing

    req = f.booked(elder)
    assessing.claim(actor=nurse, request_id=req.pk)
    assessing.decide(actor=nurse, request_id=req.pk, accept=False, decline_reason="unstable",
                     notes="伤口有感染迹象，请先到伤口门诊就诊。")
    html = page(signed_in(elder.user).get(f"/homecare/requests/{req.pk}/"))
    assert 'data-testid="declined"' in html and 'data-testid="decline-reason"' in html
    assert "伤口有感染迹象" in html and 'data-testid="cancel-form"' not in html


# ---- booking -----------------------------------------------------------------------------------------------------


def test_a_relative_books_through_the_page_with_uploaded_files(elder, relative):
    client = acting_for(relative, elder)
    before = stored_files()
    data = form(group="convalescent", evidence_kind="discharge_summary",
                evidence_file=SimpleUploadedFile("出院小结.pdf", PDF, content_type="application/pdf"),
                photo_file=SimpleUploadedFile("wound.png", PNG, content_type="image/png"))
    f.discharged(elder, days_ago=60)  # too long ago: the discharge summary is what makes the group good
    response = client.post(BOOK, data)
    req = NursingRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/homecare/requests/{req.pk}/"
    assert (req.patient, req.requested_by, req.group) == (elder, relative, "convalescent")
    assert (req.address_detail, req.contact_name, req.condition_note) == ("2单元 501", "李小红", "骶尾部压伤，渗液不多")
    assert sorted(d.kind for d in req.documents.all()) == ["discharge_summary", "image"]
    assert len(stored_files() - before) == 2
    # The documents are in the chart now, to be chosen for the next booking.
    again = page(client.get("/homecare/book/blood_draw/"))
    for doc in req.documents.all():
        assert f'data-testid="document-{doc.pk}"' in again


def test_an_existing_chart_document_is_chosen(elder):
    from tests.homecare.test_booking import document

    certificate = document(elder, "diagnosis_certificate")
    client = signed_in(elder.user)
    assert client.post(BOOK, form(group="disabled", documents=[str(certificate.pk)])).status_code == 302
    assert list(NursingRequest.objects.get().documents.all()) == [certificate]


@pytest.mark.parametrize(("changes", "code", "status", "field"), [
    ({"window_end": "09:30"}, "window_too_short", 400, ""),
    ({"preferred_date": "2020-01-01"}, "date_out_of_range", 400, "preferred_date"),
    ({"address": "太原市小店区"}, "address_not_found", 400, "address"),
    ({"consent": None}, "consent_required", 400, "consent"),
    ({"contact_phone": "12345"}, "invalid_phone", 400, "contact_phone"),
    ({"group": "disabled"}, "evidence_required", 400, ""),
    ({"group": ""}, "invalid_group", 400, "group"),
])
def test_a_refusal_is_shown_in_place_keeps_the_input_and_stores_nothing(elder, changes, code, status, field):
    client = signed_in(elder.user)
    before_files, before_docs = stored_files(), Document.objects.count()
    data = form(**changes) | {"photo_file": SimpleUploadedFile("wound.png", PNG, content_type="image/png")}
    response = client.post(BOOK, data)
    html = page(response)
    assert response.status_code == status and error_code(html) == code
    if field:
        assert f'id="id_{field}_error"' in html or (field == "group" and "field-error" in html)
    assert 'value="骶尾部压伤，渗液不多"' in html or "骶尾部压伤，渗液不多</textarea>" in html
    assert 'data-testid="files-lost"' in html
    assert NursingRequest.objects.count() == 0 and Document.objects.count() == before_docs
    assert stored_files() == before_files


def test_a_blocked_patient_and_a_duplicate_are_refused_in_place(elder, admin_user):
    from ihospital.homecare import assessing

    client = signed_in(elder.user)
    assert client.post(BOOK, form()).status_code == 302
    twice = client.post(BOOK, form())
    assert twice.status_code == 409 and error_code(page(twice)) == "duplicate_request"
    assessing.block(actor=admin_user, patient_id=elder.pk, reason="家属辱骂并推搡护士")
    blocked = client.post(BOOK, form(preferred_date=(f.tomorrow() + timedelta(days=1)).isoformat()))
    assert blocked.status_code == 403 and error_code(page(blocked)) == "patient_blocked"
    assert "推搡" not in page(blocked)


def test_a_bad_upload_is_refused_beside_its_field(elder):
    response = signed_in(elder.user).post(BOOK, form(
        photo_file=SimpleUploadedFile("x.png", b"<script>alert(1)</script>", content_type="image/png")))
    html = page(response)
    assert response.status_code == 400 and error_code(html) == "unsupported_file_type"
    assert 'id="id_photo_file_error"' in html and NursingRequest.objects.count() == 0


def test_someone_elses_document_or_patient_is_not_found(elder, relative):
    stranger = f.eligible_patient(age=77)
    from tests.homecare.test_booking import document

    theirs = document(stranger, "discharge_summary")
    client = signed_in(elder.user)
    assert client.post(BOOK, form(documents=[str(theirs.pk)])).status_code == 404
    # A relative acting for a stranger is not possible: the switch itself answers 404.
    other = signed_in(relative)
    assert other.post("/accounts/act-for/", {"patient_id": stranger.pk}).status_code == 404
    assert NursingRequest.objects.count() == 0


def test_find_on_map_shows_where_or_why_not(elder):
    client = signed_in(elder.user)
    url = "/homecare/book/wound_dressing/locate/"
    found = client.post(url, {"address": f.ADDRESS}, headers={"HX-Request": "true"})
    html = page(found)
    assert found.status_code == 200 and "<html" not in html
    assert 'data-testid="located-label">迎泽区双塔寺社区<' in html
    assert 'data-testid="located-coordinates">37.85600, 112.57000<' in html and 'data-testid="map-pin"' in html
    assert "双塔寺街" in html  # a known place nearby is drawn on the map
    district = client.post(url, {"address": "太原市小店区"}, headers={"HX-Request": "true"})
    assert district.status_code == 400 and 'data-code="address_not_found"' in page(district)
    far = client.post(url, {"address": "某村", "latitude": "38.757", "longitude": "112.559"},
                      headers={"HX-Request": "true"})
    assert far.status_code == 400 and 'data-code="outside_service_area"' in page(far)
    pin = client.post(url, {"address": "某小区", "latitude": "37.86", "longitude": "112.56"},
                      headers={"HX-Request": "true"})
    assert pin.status_code == 200 and 'data-testid="located-coordinates">37.86000, 112.56000<' in page(pin)
    # Without JavaScript the whole form comes back, with what was typed.
    whole = client.post(url, form(address_detail="3号楼"))
    assert whole.status_code == 200 and 'data-testid="booking-form"' in page(whole)
    assert 'value="3号楼"' in page(whole) and 'data-testid="located"' in page(whole)
    assert NursingRequest.objects.count() == 0


# ---- one request -------------------------------------------------------------------------------------------------


def test_someone_elses_request_is_not_found_anywhere(elder, nurse):
    stranger = f.eligible_patient(age=81)
    theirs = f.booked(stranger)
    client = signed_in(elder.user)
    for url in ("", "status/"):
        assert client.get(f"/homecare/requests/{theirs.pk}/{url}").status_code == 404
    for action in ("cancel", "confirm", "pay", "rate"):
        assert client.post(f"/homecare/requests/{theirs.pk}/{action}/", {"stars": "5"}).status_code == 404
    assert client.get(f"/homecare/book/wound_dressing/?follow_up={theirs.pk}").status_code == 404
    assert client.get("/homecare/requests/999999/").status_code == 404
    # A nurse's view of a request is on the nurse's pages, not here.
    TOTPDevice.objects.create(user=nurse, name="phone", confirmed=True)
    assert signed_in(nurse).get(f"/homecare/requests/{theirs.pk}/").status_code == 404
    assert NursingRequest.objects.get(pk=theirs.pk).status == RequestStatus.REQUESTED


def test_cancel_with_a_reason_and_too_late_once_the_nurse_set_out(elder, relative, nurse):
    req = f.booked(elder, actor=relative)
    client = acting_for(relative, elder)
    response = client.post(f"/homecare/requests/{req.pk}/cancel/", {"reason": "父亲住院了"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert (req.status, req.status_reason) == (RequestStatus.CANCELLED, "父亲住院了")
    html = page(client.get(f"/homecare/requests/{req.pk}/"))
    assert 'data-testid="cancelled"' in html and "父亲住院了" in html and 'data-testid="cancel-form"' not in html

    visit = f.today_visit(elder, nurse)
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    late = client.post(f"/homecare/requests/{visit.request_id}/cancel/", {"reason": "不用了"})
    assert late.status_code == 409 and error_code(page(late)) == "too_late_to_cancel"
    assert NursingRequest.objects.get(pk=visit.request_id).status == RequestStatus.EN_ROUTE


def _completed_with_follow_up(patient, nurse, *, actor=None):
    req = f.booked(patient, actor=actor)
    f.accepted(req, nurse)
    today = timezone.localdate()
    NursingRequest.objects.filter(pk=req.pk).update(preferred_date=today, window_start=time(0, 0),
                                                    window_end=time(23, 0))
    req.refresh_from_db()
    f.shift(nurse, today, "00:00", "23:59")
    visit = f.scheduled(req, nurse, start=f"{max(timezone.localtime().hour - 1, 0):02d}:00")
    f.in_service(visit, nurse)
    visiting.save_record(actor=nurse, visit_id=visit.pk, vitals={"systolic": 128, "diastolic": 80, "pulse": 72,
                                                                 "temperature": 36.5},
                         procedure_notes="伤口 2×3 cm，肉芽新鲜，已清创换药", consumables_used=[
                             {"code": "dressing_pack", "qty": 1}],
                         next_service_code="wound_dressing", next_in_days=3, next_note="三天后再换药")
    visiting.check_out(actor=nurse, visit_id=visit.pk, latitude=f.ADDRESS_LATLNG[0], longitude=f.ADDRESS_LATLNG[1],
                       accuracy=10)
    req.refresh_from_db()
    return req, visit


def test_after_the_visit_the_record_the_follow_up_confirm_pay_and_rate(elder, relative, nurse, flow):
    req, visit = _completed_with_follow_up(elder, nurse, actor=relative)
    booker = acting_for(relative, elder)
    html = page(booker.get(f"/homecare/requests/{req.pk}/"))
    assert 'data-testid="care-record"' in html and "肉芽新鲜" in html and "128/80" in html and "36.5" in html
    assert f'href="/homecare/book/wound_dressing/?follow_up={req.pk}"' in html and "三天后再换药" in html
    assert 'data-testid="total">¥95.00' in html and 'data-testid="pay"' in html

    # The patient did not book it: they see who pays, and cannot pay it themselves.
    patient = signed_in(elder.user)
    theirs = page(patient.get(f"/homecare/requests/{req.pk}/"))
    assert 'data-testid="payer"' in theirs and relative.real_name in theirs and 'data-testid="pay"' not in theirs
    refused = patient.post(f"/homecare/requests/{req.pk}/pay/")
    assert refused.status_code == 409 and error_code(page(refused)) == "payer_only"

    # The relative pays at the sandbox and comes back to the request.
    with flow.capture(execute=True):
        response = booker.post(f"/homecare/requests/{req.pk}/pay/")
    assert response.status_code == 302
    url = response["Location"]
    assert urlsplit(url).path.startswith("/payments/sandbox/checkout/")
    assert parse_qs(urlsplit(url).query)["next"] == [f"/homecare/requests/{req.pk}/"]
    assert flow.checkout(url, relative).status_code == 302
    flow.settle()
    req.refresh_from_db()
    assert req.paid_at is not None and 'data-testid="paid"' in page(booker.get(f"/homecare/requests/{req.pk}/"))

    # Confirm the service; once only.
    assert booker.post(f"/homecare/requests/{req.pk}/confirm/").status_code == 302
    visit.refresh_from_db()
    assert visit.confirmed_by == relative and not visit.disputed
    again = booker.post(f"/homecare/requests/{req.pk}/confirm/")
    assert again.status_code == 409 and error_code(page(again)) == "already_confirmed"

    # Rate: the number is checked, and it is given once.
    bad = booker.post(f"/homecare/requests/{req.pk}/rate/", {"stars": "9"})
    assert bad.status_code == 400 and error_code(page(bad)) == "invalid_rating"
    assert booker.post(f"/homecare/requests/{req.pk}/rate/", {"stars": "5", "comment": "护士很耐心"}).status_code == 302
    assert (Rating.objects.get(request=req).stars, Rating.objects.get(request=req).rated_by) == (5, relative)
    twice = patient.post(f"/homecare/requests/{req.pk}/rate/", {"stars": "1"})
    assert twice.status_code == 409 and error_code(page(twice)) == "already_rated"
    done = page(booker.get(f"/homecare/requests/{req.pk}/"))
    assert 'data-testid="rating"' in done and "★★★★★" in done and 'data-testid="confirmed"' in done


def test_a_dispute_needs_a_note_and_is_recorded(elder, nurse):
    req, visit = _completed_with_follow_up(elder, nurse)
    client = signed_in(elder.user)
    empty = client.post(f"/homecare/requests/{req.pk}/confirm/", {"disputed": "1", "note": ""})
    assert empty.status_code == 400 and error_code(page(empty)) == "dispute_note_required"
    assert client.post(f"/homecare/requests/{req.pk}/confirm/",
                       {"disputed": "1", "note": "护士只待了十分钟"}).status_code == 302
    visit.refresh_from_db()
    assert visit.disputed and visit.flagged and visit.dispute_note == "护士只待了十分钟"
    assert 'data-testid="disputed"' in page(client.get(f"/homecare/requests/{req.pk}/"))


def test_the_follow_up_is_booked_with_the_same_address_and_the_suggested_day(elder, nurse):
    req, _visit = _completed_with_follow_up(elder, nurse)
    client = signed_in(elder.user)
    html = page(client.get(f"/homecare/book/wound_dressing/?follow_up={req.pk}"))
    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert 'data-testid="follow-up-of"' in html and f'value="{f.ADDRESS}"' in html
    assert f'value="{day}"' in html and f'name="follow_up" value="{req.pk}"' in html
    response = client.post("/homecare/book/wound_dressing/", form(preferred_date=day, follow_up=str(req.pk)))
    assert response.status_code == 302
    follow = NursingRequest.objects.exclude(pk=req.pk).get()
    assert follow.follow_up_of == req and follow.preferred_date.isoformat() == day


def test_the_patient_home_counts_open_home_nursing_requests(elder):
    f.booked(elder)
    f.booked(elder, code="blood_draw")
    html = page(signed_in(elder.user).get("/"))
    assert 'data-testid="my-homecare"' in html and 'href="/homecare/requests/"' in html
    assert re.search(r'data-testid="my-homecare".*?2', html, re.S)
