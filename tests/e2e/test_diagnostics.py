"""A medical test from order to booked slot to released result, in real browsers against the real ASGI server.

A doctor (desktop) orders a fasting glucose at an in-person encounter with a clinical reason. The patient (phone)
sees it to book, picks tomorrow morning (fasting tests are morning-only) on the journey's own blood-draw station,
and sees it upcoming with the fasting preparation. The booking is then moved to today (check-in only works on the
slot's day, and the journey cannot wait a day). The lab technician (desktop) checks the patient in, marks the
specimen collected and enters glucose 7.8 mmol/L (flagged H). The doctor signs it off, which releases it: the
patient sees the value with its H badge and the reference range, and the report PDF downloads.

The data is seeded through the services with ``manage.py shell`` (the test factories). The e2e server's database
is shared by every journey of the session: everything here is this journey's own (users, resource, slots).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.ui import last_json

TIMEOUT = 15_000  # ms

SEED = r"""
import json, time
from datetime import timedelta
from django.utils import timezone
from ihospital.accounts.models import Role
from ihospital.diagnostics import catalogue, slots
from ihospital.diagnostics.models import DiagnosticTest, Resource, ResourceSlot
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import Command as RxFixture
from tests import factories as tf
from tests.visits.factories import EncounterFactory

# Other journeys seed with the same factories in their own processes (sequences from 0): start ours far away so
# phones, usernames, record numbers and resident IDs never clash on the shared database.
base = 3_000_000 + (int(time.time()) % 10_000) * 100
for factory in (tf.UserFactory, tf.PatientFactory, tf.StaffUserFactory, tf.StaffProfileFactory,
                tf.PractitionerFactory, tf.DepartmentFactory, tf.FacilityFactory, tf.TOTPDeviceFactory,
                tf.ConsentFactory, EncounterFactory):
    factory.reset_sequence(base, force=True)

if not DiagnosticTest.objects.exists():
    catalogue.load()
fpg = DiagnosticTest.objects.get(code="fpg")

doctor = tf.PractitionerFactory()
patient = tf.PatientFactory()
# Seen in person yesterday (the factory's default, a month ago, is on the edge of the 30 days orders allow).
encounter = EncounterFactory(patient=patient, practitioner=doctor, started_at=timezone.now() - timedelta(days=1))
lab = tf.StaffUserFactory(role=Role.LAB_TECH)
for user in (doctor.user, lab):
    user.language = "en"
    user.save(update_fields=["language"])

# A blood-draw station of this journey's own, open every morning, one patient per slot.
code = f"e2e-dx-{base}"
station = Resource.objects.create(code=code, name_zh="采血站（E2E）", name_en="Blood draw (E2E)",
                                  slot_minutes=15, capacity=1,
                                  hours={str(d): [["08:00", "12:00"]] for d in range(7)})
station.tests.add(fpg)
tomorrow = timezone.localdate() + timedelta(days=1)
slots.generate(station, start=tomorrow, days=2)
slot = ResourceSlot.objects.filter(resource=station, starts_at__date__gte=tomorrow).order_by("starts_at").first()
assert timezone.localtime(slot.starts_at).date() == tomorrow and timezone.localtime(slot.starts_at).hour < 10

print(json.dumps({
    "encounter": encounter.pk, "patient": patient.pk, "slot": slot.pk, "day": tomorrow.isoformat(),
    "doctor": RxFixture._session(doctor.user, tf.TOTPDeviceFactory(user=doctor.user)),
    "lab": RxFixture._session(lab, tf.TOTPDeviceFactory(user=lab)),
    "patient_session": RxFixture._session(patient.user, None),
}))
"""

# Check-in only works on the day of the slot and the journey cannot wait a day: move the booked slot to now.
MOVE_TO_TODAY = r"""
import json
from datetime import timedelta
from django.utils import timezone
from ihospital.diagnostics.models import DiagnosticOrder, ResourceSlot
now = timezone.now()
ResourceSlot.objects.filter(pk=%(slot)d).update(starts_at=now, ends_at=now + timedelta(minutes=15))
print(json.dumps({"number": DiagnosticOrder.objects.get(pk=%(order)d).number}))
"""



@pytest.fixture
def seeded(e2e_server) -> dict:
    return last_json(e2e_server.manage("shell", "-c", SEED).stdout)



def test_a_fasting_glucose_from_order_to_booked_slot_to_released_result(e2e_server, seeded, desk, phone_page):
    base = e2e_server.url

    # 1. The doctor orders the fasting glucose at the in-person encounter, with a reason.
    doctor = desk(seeded["doctor"])
    doctor.goto(f"{base}/diagnostics/order/?encounter={seeded['encounter']}&patient={seeded['patient']}")
    doctor.locator('input[name="test_code"][value="fpg"]').check()
    doctor.locator('[name="reason"]').fill("Thirst and polyuria for a month: screen for diabetes")
    doctor.get_by_role("button", name="Order", exact=True).click()
    expect(doctor).to_have_url(re.compile(r"/diagnostics/orders/\d+/$"), timeout=TIMEOUT)
    order_id = int(re.search(r"/orders/(\d+)/$", doctor.url).group(1))
    expect(doctor.get_by_test_id("status")).to_have_attribute("data-status", "ordered")

    # 2. The patient (phone) books tomorrow's first morning slot on the journey's station.
    patient = phone_page
    patient.set_default_timeout(TIMEOUT)
    patient.context.add_cookies([{"name": "sessionid", "value": seeded["patient_session"], "url": base}])
    patient.goto(f"{base}/diagnostics/")
    patient.get_by_test_id("to-book").get_by_test_id(f"book-{order_id}").click()
    expect(patient.get_by_test_id("preparation")).to_be_visible()
    patient.get_by_test_id("days").locator(f'a[href="?day={seeded["day"]}"]').click()
    patient.get_by_test_id(f"slot-{seeded['slot']}").click()
    expect(patient).to_have_url(re.compile(rf"/diagnostics/orders/{order_id}/$"))
    expect(patient.get_by_test_id("status")).to_have_attribute("data-status", "booked")
    expect(patient.get_by_test_id("booking")).to_contain_text(seeded["day"])
    patient.goto(f"{base}/diagnostics/")
    upcoming = (
        patient.get_by_test_id("upcoming")
        .locator(".dx-card")
        .filter(has=patient.locator(f'a[href="/diagnostics/orders/{order_id}/"]'))
    )
    expect(upcoming).to_have_count(1)
    expect(upcoming.get_by_test_id("preparation")).to_contain_text(re.compile(r"空腹|[Ff]ast"))
    expect(upcoming).to_contain_text(seeded["day"])

    number = last_json(
        e2e_server.manage("shell", "-c", MOVE_TO_TODAY % {"slot": seeded["slot"], "order": order_id}).stdout
    )["number"]

    # 3. The lab technician checks the patient in, collects the specimen and enters the result.
    lab = desk(seeded["lab"])
    lab.goto(f"{base}/diagnostics/lab/")
    row = lab.locator(f'[data-testid="booking-row"][data-number="{number}"]')
    row.get_by_role("button", name="Check in").click()
    expect(row).to_contain_text(re.compile("checked in", re.IGNORECASE))
    waiting = lab.get_by_test_id("waiting-list").locator(f'li[data-number="{number}"]')
    waiting.get_by_test_id("collect").click()
    waiting.get_by_role("link", name="Enter results").click()
    expect(lab).to_have_url(re.compile(rf"/diagnostics/lab/orders/{order_id}/results/$"))
    lab.locator("#v-glu").fill("7.8")
    lab.get_by_role("button", name="Record results").click()
    expect(lab).to_have_url(re.compile(rf"/diagnostics/orders/{order_id}/$"))
    expect(lab.get_by_test_id("status")).to_have_attribute("data-status", "resulted")

    # 4. Not released until the doctor signs it off.
    patient.goto(f"{base}/diagnostics/orders/{order_id}/")
    expect(patient.get_by_test_id("waiting")).to_be_visible()
    expect(patient.get_by_test_id("row-glu")).to_have_count(0)

    doctor.goto(f"{base}/diagnostics/doctor/results/")
    signoff = doctor.locator(f'[data-testid="signoff-row"][data-number="{number}"]')
    signoff.get_by_role("button", name="Sign off and release").click()
    expect(doctor.locator(f'[data-testid="signoff-row"][data-number="{number}"]')).to_have_count(0)

    # 5. The patient sees the released value, its H flag and the reference range; the PDF downloads.
    patient.reload()
    glucose = patient.get_by_test_id("row-glu")
    expect(glucose).to_contain_text("7.8")
    expect(glucose.get_by_test_id("flag")).to_have_attribute("data-flag", "H")
    expect(glucose).to_contain_text(re.compile(r"3\.9.*6\.1"))
    pdf_link = patient.get_by_test_id("pdf-link")
    expect(pdf_link).to_be_visible()
    response = patient.request.get(base + pdf_link.get_attribute("href"))
    assert response.status == 200, response.text()[:500]
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.body()[:5] == b"%PDF-"
