import pytest
from decimal import Decimal
from ihospital.prescriptions import services, rules
from ihospital.prescriptions.models import Drug, RxStatus
from tests.factories import StaffUserFactory, TOTPDeviceFactory
from tests.helpers import current_code
from tests.visits import flows
from tests.visits.factories import ConditionFactory, online_doctor
from tests.factories import DepartmentFactory


def drug(**kw):
    d = dict(sku="CV-AML-5", generic_name_zh="苯磺酸氨氯地平片", generic_name_en="Amlodipine besylate tablets",
             form="tablet", strength="5 mg", dose_unit="mg", unit_amount=Decimal(5), dispensing_unit="tablet",
             package_size=28, package_unit="box", price_fen=800, atc_code="C08CA01", control_class="ordinary",
             default_route="oral", max_daily_dose=Decimal(10), chronic=True, area="cardiovascular")
    d.update(kw)
    return Drug.objects.create(**d)


@pytest.mark.django_db(transaction=False)
def test_smoke(patient):
    dept = DepartmentFactory()
    doc = online_doctor(dept)
    cond = ConditionFactory(patient=patient)
    from tests.visits.factories import SlotFactory
    visit = flows.book(patient, SlotFactory(practitioner=doc, department=dept), cond)
    flows.start(visit, doc)
    am = drug()
    rx = services.start_prescription(actor=doc.user, visit_id=visit.pk, kind="chronic", refills_allowed=2)
    services.add_item(actor=doc.user, prescription_id=rx.pk, drug_id=am.pk, dose="5", frequency="qd", duration_days=28)
    device = doc.user.totpdevice_set.first()
    rx = services.sign_prescription(actor=doc.user, prescription_id=rx.pk, code=current_code(device))
    assert rx.status == RxStatus.SIGNED and rx.content_hash
    ph = StaffUserFactory(role="pharmacist")
    services.review_prescription(actor=ph, prescription_id=rx.pk, approve=True)
    rx.refresh_from_db()
    assert rx.status == "approved"
    print(rules.refill_refusal(rx))
    print(services.verify_slip(number=rx.number, fingerprint=rx.content_hash[:16]))
