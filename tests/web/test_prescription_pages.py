"""The prescription pages with Django's test client: each page reaches its selector or service, shows a refusal
with the service's message and status, and answers 404 for someone else's prescription. The workflow rules
themselves are tested in ``tests/prescriptions``; the browser journeys in ``tests/e2e/test_prescriptions.py``.
"""

from __future__ import annotations

import pytest
from django.test import Client

from ihospital.prescriptions.models import Prescription, RefillRequest, RefillStatus, RxStatus
from tests.factories import PatientFactory
from tests.helpers import verify_session
from tests.prescriptions import factories as f
from tests.visits import conftest as visits
from tests.visits.factories import ConditionFactory

pytestmark = pytest.mark.django_db

# The visit tests' fixtures: a channel layer of each test's own, the department, its consulting doctor, the
# patient's in-person hypertension and a relative acting for the patient.
_own_channel_layer = visits._own_channel_layer
department = visits.department
doc = visits.doc
diagnosis = visits.diagnosis
relative = visits.relative


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    device = user.totpdevice_set.first()
    if device is not None:
        verify_session(client, device)
    return client


@pytest.fixture
def pharmacist(db):
    return f.pharmacist_user()


@pytest.fixture
def visit(patient, doc, diagnosis):
    return f.visit_in_progress(patient, doc, diagnosis)


@pytest.fixture
def due(doc, patient, pharmacist, diagnosis):
    """The seed's monthly prescription, approved, 25 days ago: a refill is due."""
    return f.make_due(f.monthly(doc, patient, pharmacist, condition=diagnosis))


def page(response) -> str:
    return response.content.decode()


# ---- the patient ------------------------------------------------------------------------------------------------


def test_my_medicines_lists_current_refillable_and_history_and_links_the_detail(patient, due):
    client = signed_in(patient.user)
    html = page(client.get("/prescriptions/"))
    assert f'data-testid="refillable-{due.pk}"' in html
    assert f'href="/prescriptions/{due.pk}/refill/"' in html
    assert "苯磺酸氨氯地平片" in html
    assert f'data-testid="history-{due.pk}"' in html
    assert 'data-live-refresh' in html and "prescriptions/live.js" in html
    part = client.get("/prescriptions/?part=lists")
    assert part.status_code == 200 and "<html" not in page(part)
    assert client.get(f"/prescriptions/{due.pk}/").status_code == 200


def test_a_relative_acting_for_the_patient_sees_and_asks_the_same(patient, relative, due):
    client = signed_in(relative)
    client.post("/accounts/act-for/", {"patient_id": patient.pk})
    assert f'data-testid="refillable-{due.pk}"' in page(client.get("/prescriptions/"))
    assert client.get(f"/prescriptions/{due.pk}/refill/").status_code == 200


def test_someone_elses_prescription_and_a_draft_answer_404(patient, doc, visit, due):
    stranger = signed_in(PatientFactory().user)
    for path in (f"/prescriptions/{due.pk}/", f"/prescriptions/{due.pk}/refill/", f"/prescriptions/{due.pk}/slip/",
                 f"/prescriptions/{due.pk}/slip.pdf", f"/prescriptions/{due.pk + 999}/"):
        assert stranger.get(path).status_code == 404, path
    draft = f.draft(doc, visit, f.item(f.amlodipine()))
    owner = signed_in(patient.user)
    assert owner.get(f"/prescriptions/{draft.pk}/").status_code == 404  # a draft is the doctor's alone
    assert signed_in(doc.user).get(f"/prescriptions/{draft.pk}/slip/").status_code == 404  # no slip for a draft


def test_the_refill_form_marks_missing_answers_then_sends_the_request(patient, due):
    client = signed_in(patient.user)
    form = page(client.get(f"/prescriptions/{due.pk}/refill/"))
    assert 'name="systolic"' in form and 'name="fasting_glucose"' not in form  # hypertension, not diabetes
    item_id = due.items.get().pk
    assert f'value="{item_id}"' in form and "checked" in form

    incomplete = client.post(f"/prescriptions/{due.pk}/refill/", {"items": [item_id]})
    assert incomplete.status_code == 400
    assert page(incomplete).count('class="field-error"') >= 3
    assert not RefillRequest.objects.exists()

    answers = {"items": [item_id], "new_symptoms": "no", "side_effects": "yes", "side_effects_detail": "脚踝有点肿",
               "adherence": "all", "systolic": "182", "diastolic": "96"}
    response = client.post(f"/prescriptions/{due.pk}/refill/", answers)
    assert response.status_code == 302 and response["Location"].startswith("/prescriptions/")
    request = RefillRequest.objects.get()
    assert request.status == RefillStatus.REQUESTED
    assert set(request.red_flags) == {"side_effects", "blood_pressure_very_high"}

    again = page(client.get(f"/prescriptions/{due.pk}/refill/"))
    assert 'data-testid="open-request"' in again and 'data-testid="refill-form"' not in again


def test_a_refill_asked_too_early_shows_the_date_instead_of_the_form(doc, patient, pharmacist, diagnosis):
    fresh = f.monthly(doc, patient, pharmacist, condition=diagnosis)
    client = signed_in(patient.user)
    form = page(client.get(f"/prescriptions/{fresh.pk}/refill/"))
    assert 'data-testid="refill-refusal"' in form and 'data-testid="refill-form"' not in form
    response = client.post(f"/prescriptions/{fresh.pk}/refill/", {"items": [fresh.items.get().pk]})
    assert response.status_code == 409


# ---- the doctor: prescribing ------------------------------------------------------------------------------------


def test_the_visit_room_loads_the_prescribing_panel_and_a_prescription_starts_there(doc, visit):
    client = signed_in(doc.user)
    room = page(client.get(f"/visits/{visit.pk}/"))
    assert f'hx-get="/prescriptions/visit/{visit.pk}/"' in room
    panel = client.get(f"/prescriptions/visit/{visit.pk}/", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and 'data-testid="start-prescription"' in page(panel)
    assert "<html" not in page(panel)
    response = client.post(f"/prescriptions/visit/{visit.pk}/start/", {"kind": "chronic", "refills_allowed": "2"})
    rx = Prescription.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/prescriptions/{rx.pk}/edit/"
    assert (rx.kind, rx.refills_allowed, rx.status) == ("chronic", 2, RxStatus.DRAFT)


def test_the_editor_searches_adds_refuses_a_controlled_drug_and_signs_past_a_finding(doc, visit, patient):
    from ihospital.records import services as records

    records.add_medication(actor=doc.user, patient_id=patient.pk, medication="硝苯地平控释片 30 mg")
    f.nifedipine()
    morphine = f.DrugFactory(narcotic=True, generic_name_zh="硫酸吗啡缓释片")
    rx = f.draft(doc, visit)
    client = signed_in(doc.user)

    amlodipine = f.amlodipine()
    results = page(client.get(f"/prescriptions/drugs/?q=氨氯地平&rx={rx.pk}"))
    assert f'hx-get="/prescriptions/{rx.pk}/edit/item-form/?drug={amlodipine.pk}"' in results
    assert "¥15.00" in results
    assert "不可在线开具" not in results
    assert "不可在线开具" in page(client.get(f"/prescriptions/drugs/?q=吗啡&rx={rx.pk}"))
    form = page(client.get(f"/prescriptions/{rx.pk}/edit/item-form/?drug={amlodipine.pk}"))
    assert 'name="dose"' in form and 'value="oral" selected' in form

    refused = client.post(f"/prescriptions/{rx.pk}/items/",
                          {"drug": morphine.pk, "dose": "30", "frequency": "bid", "route": "oral",
                           "duration_days": "3"})
    assert refused.status_code == 403 and "麻醉药品" in page(refused)
    too_long = client.post(f"/prescriptions/{rx.pk}/items/",
                           {"drug": amlodipine.pk, "dose": "5", "frequency": "qd", "route": "oral",
                            "duration_days": "90"})
    assert too_long.status_code == 400 and "30" in page(too_long) and not rx.items.exists()
    added = client.post(f"/prescriptions/{rx.pk}/items/",
                        {"drug": amlodipine.pk, "dose": "5", "frequency": "qd", "route": "oral",
                         "duration_days": "28"})
    assert added.status_code == 302 and rx.items.get().quantity == 1

    editor = page(client.get(f"/prescriptions/{rx.pk}/edit/"))
    assert 'data-code="duplicate_therapy"' in editor
    key = "duplicate:CV-AML-5:CV-NIF-30"
    code = f.code_of(doc.user)
    unresolved = client.post(f"/prescriptions/{rx.pk}/sign/", {"code": code})
    assert unresolved.status_code == 409 and "finding severity-moderate unresolved" in page(unresolved)
    # Refused before the code was spent: the same code signs once the reason is there.
    reason = {f"override-{key}": "改用氨氯地平，停用硝苯地平"}
    signed = client.post(f"/prescriptions/{rx.pk}/sign/", {"code": code, **reason})
    assert signed.status_code == 302 and signed["Location"] == f"/prescriptions/{rx.pk}/"
    rx.refresh_from_db()
    assert rx.status == RxStatus.SIGNED and rx.checks[0]["override"] == "改用氨氯地平，停用硝苯地平"
    assert client.get(f"/prescriptions/{rx.pk}/edit/")["Location"] == f"/prescriptions/{rx.pk}/"


def test_a_wrong_code_is_shown_beside_the_code_field(doc, visit):
    rx = f.draft(doc, visit, f.item(f.amlodipine()))
    response = signed_in(doc.user).post(f"/prescriptions/{rx.pk}/sign/", {"code": "000000"})
    assert response.status_code == 401
    assert 'id="id_code_error"' in page(response)
    assert Prescription.objects.get(pk=rx.pk).status == RxStatus.DRAFT


def test_a_patient_cannot_reach_the_doctors_pages(patient, visit):
    client = signed_in(patient.user)
    for path in ("/prescriptions/doctor/", "/prescriptions/refills/", "/prescriptions/review/",
                 f"/prescriptions/visit/{visit.pk}/", "/prescriptions/drugs/?q=a"):
        assert client.get(path).status_code == 403, path


# ---- the doctor: refills and rejected prescriptions ---------------------------------------------------------


def test_the_doctor_approves_a_refill_with_the_code(doc, due):
    request = f.refill(due)
    client = signed_in(doc.user)
    worklist = page(client.get("/prescriptions/refills/"))
    assert f'href="/prescriptions/refills/{request.pk}/"' in worklist
    detail = page(client.get(f"/prescriptions/refills/{request.pk}/"))
    assert "132/84 mmHg" in detail and 'data-testid="approve-form"' in detail
    response = client.post(f"/prescriptions/refills/{request.pk}/approve/", {"code": f.code_of(doc.user)})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RefillStatus.APPROVED and request.result.status == RxStatus.SIGNED


def test_approving_a_refill_past_a_finding_asks_for_the_reason_then_signs(doc, patient, due):
    from ihospital.records import services as records

    request = f.refill(due)
    f.nifedipine()
    records.add_medication(actor=doc.user, patient_id=patient.pk, medication="硝苯地平控释片 30 mg")
    client = signed_in(doc.user)
    code = f.code_of(doc.user)
    first = client.post(f"/prescriptions/refills/{request.pk}/approve/", {"code": code})
    assert first.status_code == 409
    html = page(first)
    key = "duplicate:CV-AML-5:CV-NIF-30"
    assert f'name="override-{key}"' in html and 'data-testid="approve-refill"' in html
    request.refresh_from_db()
    assert request.status == RefillStatus.REQUESTED and not Prescription.objects.filter(renewal_of=due).exists()
    done = client.post(f"/prescriptions/refills/{request.pk}/approve/",
                       {"code": code, f"override-{key}": "已停用硝苯地平"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == RefillStatus.APPROVED and request.result.checks[0]["override"] == "已停用硝苯地平"


def test_refusing_a_refill_needs_a_reason_and_modifying_opens_the_editor(doc, due):
    request = f.refill(due)
    client = signed_in(doc.user)
    no_reason = client.post(f"/prescriptions/refills/{request.pk}/refuse/", {"reason": " "})
    assert no_reason.status_code == 400 and 'class="field-error"' in page(no_reason)
    response = client.post(f"/prescriptions/refills/{request.pk}/modify/")
    request.refresh_from_db()
    assert request.status == RefillStatus.DRAFTING
    assert response["Location"] == f"/prescriptions/{request.result_id}/edit/"
    assert 'data-testid="refill-draft"' in page(client.get(response["Location"]))


def test_a_rejected_prescription_shows_the_reason_and_is_revised(doc, patient, pharmacist, diagnosis):
    rx = f.reject(pharmacist, f.signed(doc, patient, condition=diagnosis))
    client = signed_in(doc.user)
    mine = page(client.get("/prescriptions/doctor/"))
    assert f'data-testid="rejected-{rx.pk}"' in mine and "剂量过大，请调整" in mine
    response = client.post(f"/prescriptions/{rx.pk}/revise/")
    revision = Prescription.objects.get(revision_of=rx)
    assert response["Location"] == f"/prescriptions/{revision.pk}/edit/"
    assert client.post(f"/prescriptions/{rx.pk}/revise/").status_code == 409


# ---- the pharmacist -------------------------------------------------------------------------------------------


def test_the_pharmacist_claims_and_approves_and_rejecting_needs_reasons(doc, patient, pharmacist, diagnosis):
    first = f.signed(doc, patient, condition=diagnosis)
    client = signed_in(pharmacist)
    worklist = page(client.get("/prescriptions/review/"))
    assert f'data-testid="review-row-{first.pk}"' in worklist
    assert client.post(f"/prescriptions/{first.pk}/review/claim/").status_code == 302
    assert Prescription.objects.get(pk=first.pk).status == RxStatus.UNDER_REVIEW
    no_reasons = client.post(f"/prescriptions/{first.pk}/review/decide/", {"decision": "reject", "comment": "x"})
    assert no_reasons.status_code == 400 and 'class="field-error"' in page(no_reasons)
    approved = client.post(f"/prescriptions/{first.pk}/review/decide/", {"decision": "approve"})
    assert approved.status_code == 302
    assert Prescription.objects.get(pk=first.pk).status == RxStatus.APPROVED
    again = client.post(f"/prescriptions/{first.pk}/review/decide/", {"decision": "approve"})
    assert again.status_code == 409


def test_a_finding_new_since_signing_needs_the_pharmacists_acknowledgement(doc, patient, pharmacist, diagnosis):
    from ihospital.records import services as records

    rx = f.signed(doc, patient, condition=diagnosis)
    f.nifedipine()
    records.add_medication(actor=doc.user, patient_id=patient.pk, medication="硝苯地平控释片 30 mg")
    client = signed_in(pharmacist)
    review = page(client.get(f"/prescriptions/{rx.pk}/review/"))
    assert "finding severity-moderate new" in review
    refused = client.post(f"/prescriptions/{rx.pk}/review/decide/", {"decision": "approve"})
    assert refused.status_code == 409 and 'data-testid="acknowledge"' in page(refused)
    done = client.post(f"/prescriptions/{rx.pk}/review/decide/", {"decision": "approve", "acknowledge": "1"})
    assert done.status_code == 302


def test_the_review_pages_are_for_pharmacists_only(doc, patient, diagnosis):
    rx = f.signed(doc, patient, condition=diagnosis)
    assert signed_in(doc.user).get(f"/prescriptions/{rx.pk}/review/").status_code == 403
    assert signed_in(patient.user).get(f"/prescriptions/{rx.pk}/review/").status_code == 403


# ---- the slip and its check ------------------------------------------------------------------------------------


def test_the_slip_its_pdf_and_the_public_check(doc, patient, pharmacist, diagnosis):
    rx = f.approve(pharmacist, f.signed(doc, patient, condition=diagnosis))
    client = signed_in(patient.user)
    slip = page(client.get(f"/prescriptions/{rx.pk}/slip/"))
    assert rx.content_hash in slip and "<svg" in slip
    verify = f"http://testserver/rx/verify/{rx.number}/?h={rx.content_hash[:16]}"
    assert verify in slip
    pdf = client.get(f"/prescriptions/{rx.pk}/slip.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    anyone = Client()
    genuine = anyone.get(f"/rx/verify/{rx.number}/", {"h": rx.content_hash[:16]})
    assert genuine.status_code == 200 and 'data-result="genuine"' in page(genuine)
    assert patient.real_name not in page(genuine) and "氨氯地平" not in page(genuine)
    assert anyone.get(f"/rx/verify/{rx.number}/", {"h": "0" * 16}).status_code == 404
    assert anyone.get(f"/rx/verify/{rx.number}/").status_code == 404

    Prescription.objects.filter(pk=rx.pk).update(notes="改过的医嘱")
    tampered = anyone.get(f"/rx/verify/{rx.number}/", {"h": rx.content_hash[:16]})
    assert 'data-result="tampered"' in page(tampered)


# ---- home pages --------------------------------------------------------------------------------------------------


def test_home_pages_link_the_prescription_pages(patient, doc, pharmacist):
    assert 'href="/prescriptions/"' in page(signed_in(patient.user).get("/"))
    doctor_home = page(signed_in(doc.user).get("/"))
    assert 'href="/prescriptions/refills/"' in doctor_home and 'href="/prescriptions/doctor/"' in doctor_home
    assert 'href="/prescriptions/review/"' in page(signed_in(pharmacist).get("/"))


def test_a_diabetic_patient_is_asked_the_fasting_glucose(doc, patient, pharmacist):
    condition = ConditionFactory(patient=patient, code="E11")
    rx = f.make_due(f.monthly(doc, patient, pharmacist, f.item(f.metformin()), condition=condition))
    form = page(signed_in(patient.user).get(f"/prescriptions/{rx.pk}/refill/"))
    assert 'name="fasting_glucose"' in form and 'name="systolic"' not in form
