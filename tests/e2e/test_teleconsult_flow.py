"""A remote expert consultation from the county doctor's question to the acknowledged report, in real browsers
against the real ASGI server.

The partner hospital's doctor (desktop) writes a request about a patient in their care and uploads an ECG report;
sending is refused until the patient consents. The patient (phone) reads who asks, which hospital and which
items, and consents; the doctor's open page shows it live. The doctor sends it. The coordinator (desktop) sees it
on the board with its deadline and assigns the expert as lead. The expert (desktop) accepts, reads the case,
writes and submits an opinion with an ICD-10 code, and signs the consolidated report (prefilled from the opinion)
with the authenticator code. The doctor's page, open all along, shows the report live with the advice-only
notice; the doctor acknowledges it, and the patient reads it too.

The data is seeded through the services with ``manage.py shell`` (the test factories); everything is this
journey's own on the shared e2e database.
"""

from __future__ import annotations

import re

import pytest
from django_otp.oath import totp
from playwright.sync_api import Page, expect

from tests.e2e.ui import last_json

TIMEOUT = 15_000  # ms
LIVE_TIMEOUT = 20_000  # ms: a change reaches an open page through the socket, then the page re-reads itself
ADVICE = "This report is expert advice. The treating hospital and its doctors keep the decision."
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

SEED = r"""
import json, time
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import Command as RxFixture
from tests import factories as tf
from tests.teleconsult import factories as tc

# Other journeys seed with the same factories in their own processes: start ours far away so phones, usernames,
# record numbers, codes and resident IDs never clash on the shared database.
base = 5_000_000 + (int(time.time()) % 10_000) * 100
for factory in (tf.UserFactory, tf.PatientFactory, tf.StaffUserFactory, tf.StaffProfileFactory,
                tf.PractitionerFactory, tf.DepartmentFactory, tf.FacilityFactory, tf.TOTPDeviceFactory,
                tf.ConsentFactory):
    factory.reset_sequence(base, force=True)

patient = tf.PatientFactory()
referrer = tc.PartnerDoctorFactory(patients=[patient]).user
cardiology = tf.DepartmentFactory(facility=tf.HomeFacilityFactory(), name_en=f"Cardiology E2E {base}")
expert = tc.ExpertFactory(departments=[cardiology]).user
coordinator = tc.CoordinatorFactory()
tc.tariffs_for(referrer.practitioner.facility, fee_fen=60000)
for user in (patient.user, referrer, expert, coordinator):
    user.language = "en"
    user.save(update_fields=["language"])
device = tc.device_of(expert)
print(json.dumps({
    "patient": patient.pk, "patient_name": patient.real_name, "department": cardiology.pk,
    "expert": expert.pk, "expert_name": expert.real_name, "expert_key": device.key,
    "expert_step": device.step, "expert_t0": device.t0, "expert_digits": device.digits,
    "referrer": RxFixture._session(referrer, tc.device_of(referrer)),
    "coordinator": RxFixture._session(coordinator, tc.device_of(coordinator)),
    "expert_session": RxFixture._session(expert, device),
    "patient_session": RxFixture._session(patient.user, None),
}))
"""



@pytest.fixture
def seeded(e2e_server) -> dict:
    return last_json(e2e_server.manage("shell", "-c", SEED).stdout)



def _code(seeded: dict) -> str:
    key = bytes.fromhex(seeded["expert_key"])
    digits = seeded["expert_digits"]
    return f"{totp(key, step=seeded['expert_step'], t0=seeded['expert_t0'], digits=digits):0{digits}d}"


def _live(page: Page) -> None:
    """The page's live socket is open (so a change made elsewhere reaches it)."""
    page.wait_for_function("window.ihospitalTcLive && window.ihospitalTcLive.ready === true", timeout=TIMEOUT)


def test_a_consultation_from_request_to_acknowledged_report(e2e_server, seeded, desk, phone_page):
    base = e2e_server.url

    # 1. The county doctor writes the request and uploads an ECG report.
    referrer = desk(seeded["referrer"])
    referrer.goto(f"{base}/teleconsult/")
    expect(referrer).to_have_url(re.compile(r"/teleconsult/mine/$"))
    referrer.get_by_test_id("new-request").click()
    referrer.locator('select[name="patient"]').select_option(str(seeded["patient"]))
    referrer.locator('[name="question"]').fill("Is coronary angiography needed, or medical treatment first?")
    referrer.locator('[name="summary"]').fill("68 M, chest tightness on exertion for a week; ST depression V4-V6.")
    referrer.locator('select[name="urgency"]').select_option("urgent")
    referrer.locator('select[name="department"]').select_option(str(seeded["department"]))
    referrer.get_by_test_id("save-request").click()
    expect(referrer).to_have_url(re.compile(r"/teleconsult/requests/\d+/$"))
    request_id = int(re.search(r"/requests/(\d+)/$", referrer.url).group(1))
    expect(referrer.get_by_test_id("status")).to_have_attribute("data-status", "draft")
    referrer.locator('input[name="file"]').set_input_files(
        files=[{"name": "ecg.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    referrer.locator('input[name="title"]').fill("ECG report")
    referrer.get_by_test_id("upload").click()
    expect(referrer.get_by_test_id("attachment")).to_have_count(1)
    expect(referrer.get_by_test_id("attachment")).to_contain_text("ECG report")

    # 2. Not sent without the patient's consent.
    referrer.get_by_test_id("submit").click()
    expect(referrer.get_by_test_id("page-error")).to_have_attribute("data-code", "consent_required")
    referrer.goto(f"{base}/teleconsult/requests/{request_id}/")
    _live(referrer)
    expect(referrer.get_by_test_id("consent-state")).to_have_attribute("data-given", "0")

    # 3. The patient, on a phone, reads who asks and what would be shared, and consents.
    patient = phone_page
    patient.set_default_timeout(TIMEOUT)
    patient.context.add_cookies([{"name": "sessionid", "value": seeded["patient_session"], "url": base}])
    patient.goto(f"{base}/teleconsult/my/")
    patient.get_by_test_id("elder-toggle").click()  # large type: the prompt still fits a phone
    expect(patient.locator("html")).to_have_class(re.compile(r"\belder\b"))
    ask = patient.locator('[data-testid="ask-row"]').first
    expect(ask).to_be_visible()
    ask.get_by_role("link").first.click()
    prompt = patient.get_by_test_id("consent-prompt")
    expect(prompt).to_contain_text("ECG report")
    patient.get_by_test_id("give-consent").click()
    expect(patient.get_by_test_id("consent-given")).to_be_visible()

    # The doctor's open page shows the consent without a reload, and the request goes.
    expect(referrer.get_by_test_id("consent-state")).to_have_attribute("data-given", "1", timeout=LIVE_TIMEOUT)
    referrer.get_by_test_id("submit").click()
    expect(referrer.get_by_test_id("status")).to_have_attribute("data-status", "submitted")
    _live(referrer)

    # 4. The coordinator sees it on the board with its deadline and assigns the expert as lead.
    coordinator = desk(seeded["coordinator"])
    coordinator.goto(f"{base}/teleconsult/board/")
    row = coordinator.get_by_test_id("board-waiting").get_by_test_id("board-row").filter(
        has=coordinator.locator(f'a[href="/teleconsult/requests/{request_id}/"]'))
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("due").first).to_be_visible()
    row.get_by_role("link").first.click()
    coordinator.locator('select[name="expert"]').select_option(str(seeded["expert"]))
    coordinator.locator('select[name="role"]').select_option("lead")
    coordinator.get_by_test_id("assign").click()
    expect(coordinator.get_by_test_id("status")).to_have_attribute("data-status", "assigned")
    expect(referrer.get_by_test_id("status")).to_have_attribute("data-status", "assigned", timeout=LIVE_TIMEOUT)

    # 5. The expert accepts, reads the case, writes an opinion and signs the report.
    expert = desk(seeded["expert_session"])
    expert.goto(f"{base}/teleconsult/cases/")
    case = expert.get_by_test_id("case-row").filter(
        has=expert.locator(f'a[href="/teleconsult/requests/{request_id}/"]'))
    case.get_by_role("link").first.click()
    expect(expert.get_by_test_id("question")).to_contain_text("coronary angiography")
    expect(expert.get_by_test_id("attachment-download")).to_contain_text("ECG report")
    expert.get_by_test_id("accept").click()
    expect(expert.get_by_test_id("status")).to_have_attribute("data-status", "in_review")
    form = expert.get_by_test_id("opinion-form")
    form.locator('[name="findings"]').fill("Exertional angina pattern; ST depression V4-V6.")
    form.locator('[name="impression"]').fill("Stable angina pectoris")
    form.locator('[name="diagnoses"]').fill("I20.9")
    form.locator('[name="recommendations"]').fill("Coronary CT angiography; aspirin and a statin meanwhile.")
    expert.get_by_test_id("submit-opinion").click()
    expect(expert.get_by_test_id("opinion-submitted")).to_be_visible()
    sign = expert.get_by_test_id("sign-form")
    expect(sign.locator('[name="impression"]')).to_have_value(re.compile("Stable angina pectoris"))
    expect(sign.locator('[name="diagnoses"]')).to_have_value("I20.9")
    sign.locator('[name="otp_code"]').fill(_code(seeded))
    expert.get_by_test_id("sign").click()
    expect(expert.get_by_test_id("status")).to_have_attribute("data-status", "reported")

    # 6. The doctor's page, open all along, shows the report live, with the advice notice; they acknowledge it.
    expect(referrer.get_by_test_id("report")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(referrer.get_by_test_id("advice")).to_have_text(ADVICE)
    expect(referrer.get_by_test_id("report-impression")).to_contain_text("Stable angina pectoris")
    referrer.get_by_test_id("acknowledge").click()
    expect(referrer.get_by_test_id("status")).to_have_attribute("data-status", "acknowledged")
    expect(referrer.get_by_test_id("acknowledged")).to_be_visible()
    pdf = referrer.request.get(base + referrer.get_by_test_id("report-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"

    # 7. The patient reads the report too, with the same notice.
    patient.goto(f"{base}/teleconsult/requests/{request_id}/")
    expect(patient.get_by_test_id("advice")).to_have_text(ADVICE)
    expect(patient.get_by_test_id("report-recommendations")).to_contain_text("Coronary CT angiography")
