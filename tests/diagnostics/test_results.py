"""Recording lab results: who may, in which states, bad values, units, corrections, critical alerts, sign-off and
automatic release."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from ihospital.accounts.models import Proxy, ProxyStatus, Role
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditEvent
from ihospital.diagnostics import results
from ihospital.diagnostics.models import DiagnosticOrder, Flag, Observation, OrderStatus
from ihospital.diagnostics.tasks import release_due_results, release_result
from ihospital.notifications.models import Notification
from tests.diagnostics.factories import (
    AnalyteFactory,
    DiagnosticOrderFactory,
    DiagnosticTestFactory,
    ReferenceRangeFactory,
)
from tests.factories import PatientFactory, PractitionerFactory, StaffUserFactory, UserFactory
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _own_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def panel():
    test = DiagnosticTestFactory(code="bmp", name_en="Basic metabolic panel")
    glu = AnalyteFactory(test=test, code="glu", name_en="Glucose", unit="mmol/L", position=1)
    ReferenceRangeFactory(analyte=glu)
    k = AnalyteFactory(test=test, code="k", name_en="Potassium", unit="mmol/L", position=2)
    ReferenceRangeFactory(analyte=k, low=D("3.5"), high=D("5.3"), critical_low=D("2.5"), critical_high=D("6.5"))
    AnalyteFactory(test=test, code="pro", name_en="Urine protein", unit="", position=3)
    return test


@pytest.fixture
def doctor():
    return PractitionerFactory(user__language="en")


@pytest.fixture
def patient():
    return PatientFactory(sex_="F")


def make_order(panel, doctor, patient, status=OrderStatus.COLLECTED):
    order = DiagnosticOrderFactory(test=panel, doctor=doctor, patient=patient,
                                   encounter=EncounterFactory(patient=patient, practitioner=doctor))
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


@pytest.fixture
def order(panel, doctor, patient):
    return make_order(panel, doctor, patient)


@pytest.fixture
def tech():
    return StaffUserFactory(role=Role.LAB_TECH)


def listen(group: str):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    async def _next():
        import asyncio

        try:
            return await asyncio.wait_for(layer.receive(channel), timeout=2)
        except TimeoutError:
            return None

    return lambda: async_to_sync(_next)()


def test_a_technician_records_values_flagged_and_the_order_is_resulted(order, tech):
    observations = results.record(actor=tech, order_id=order.pk, values=[
        dict(analyte="glu", value="7.2", unit="mmol/L"), dict(analyte="k", value=4.1), dict(analyte="pro", text="2+")])

    order.refresh_from_db()
    assert order.status == OrderStatus.RESULTED
    assert [(o.analyte.code, o.value, o.text, o.flag, o.reference, o.version, o.source) for o in observations] == [
        ("glu", D("7.2"), "", Flag.HIGH, "3.9–6.1 mmol/L", 1, "manual"),
        ("k", D("4.1"), "", Flag.NORMAL, "3.5–5.3 mmol/L", 1, "manual"),
        ("pro", None, "2+", Flag.ABNORMAL, "阴性", 1, "manual"),
    ]
    assert all(o.entered_by == tech and o.unit == o.analyte.unit for o in observations)
    event = AuditEvent.objects.filter(object_type="diagnostics.diagnosticorder", object_id=str(order.pk)).last()
    assert event.detail["results"] == {"glu": "H", "k": "N", "pro": "A"}
    assert event.detail["critical_alerted"] == []
    assert not Notification.objects.filter(kind="diagnostics.critical").exists()


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.NURSE, Role.PATIENT, Role.PHARMACIST])
def test_only_a_lab_technician_records(order, role):
    actor = UserFactory(role=role) if role == Role.PATIENT else StaffUserFactory(role=role)

    with pytest.raises(Forbidden) as err:
        results.record(actor=actor, order_id=order.pk, values=[dict(analyte="glu", value="5")])

    assert err.value.code == "not_lab_tech"
    assert not Observation.objects.exists()


@pytest.mark.parametrize("status", [OrderStatus.ORDERED, OrderStatus.BOOKED, OrderStatus.CHECKED_IN,
                                    OrderStatus.RELEASED, OrderStatus.CANCELLED])
def test_results_need_a_collected_or_resulted_order(panel, doctor, patient, tech, status):
    order = make_order(panel, doctor, patient, status)

    with pytest.raises(Conflict) as err:
        results.record(actor=tech, order_id=order.pk, values=[dict(analyte="glu", value="5")])

    assert err.value.code == "order_not_collected"
    assert not Observation.objects.exists()


def test_an_unknown_order_is_not_found(tech):
    with pytest.raises(NotFound) as err:
        results.record(actor=tech, order_id=999999, values=[dict(analyte="glu", value="5")])
    assert err.value.code == "order_not_found"


@pytest.mark.parametrize(("item", "code"), [
    (dict(analyte="glu", value="abc"), "invalid_value"),
    (dict(analyte="glu", value="NaN"), "invalid_value"),
    (dict(analyte="glu", value="Infinity"), "invalid_value"),
    (dict(analyte="glu", value=float("inf")), "invalid_value"),
    (dict(analyte="glu", value="1e12"), "invalid_value"),
    (dict(analyte="glu", value=True), "invalid_value"),
    (dict(analyte="glu", value="5.0", unit="mg/dL"), "unit_mismatch"),
    (dict(analyte="pro", text="+", unit="g/L"), "unit_mismatch"),
    (dict(analyte="glu"), "missing_value"),
    (dict(analyte="alt", value="30"), "unknown_analyte"),
    (dict(analyte="glu", value="5", observed_at=timezone.now() + timedelta(hours=2)), "invalid_observed_at"),
])
def test_a_bad_value_refuses_the_whole_entry(order, tech, item, code):
    with pytest.raises(DomainError) as err:
        results.record(actor=tech, order_id=order.pk, values=[dict(analyte="k", value="4.0"), item])

    assert err.value.code == code
    assert "values.1" in err.value.fields
    assert not Observation.objects.exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED


def test_an_analyte_given_twice_or_no_values_is_refused(order, tech):
    with pytest.raises(DomainError) as err:
        results.record(actor=tech, order_id=order.pk, values=[dict(analyte="k", value="4"), dict(analyte="k", value=5)])
    assert err.value.code == "duplicate_analyte"
    with pytest.raises(DomainError) as err:
        results.record(actor=tech, order_id=order.pk, values=[])
    assert err.value.code == "no_values"
    assert not Observation.objects.exists()


def test_a_correction_adds_a_new_version_and_keeps_the_earlier_one(order, tech):
    results.record(actor=tech, order_id=order.pk, values=[dict(analyte="glu", value="7.2"), dict(analyte="k", value=4)])

    (corrected,) = results.record(actor=tech, order_id=order.pk, values=[dict(analyte="glu", value="5.2")])

    assert (corrected.version, corrected.flag) == (2, Flag.NORMAL)
    assert list(Observation.objects.filter(order=order, analyte__code="glu").values_list("version", "value")) == [
        (2, D("5.2")), (1, D("7.2"))]
    assert {o.analyte.code: o.version for o in results.current_observations(order)} == {"glu": 2, "k": 1}
    order.refresh_from_db()
    assert order.status == OrderStatus.RESULTED
    event = AuditEvent.objects.filter(object_type="diagnostics.diagnosticorder", object_id=str(order.pk)).last()
    assert event.detail["correction"] is True


def test_a_critical_value_alerts_the_ordering_doctor_at_once_without_the_value(
        order, tech, doctor, django_capture_on_commit_callbacks):
    next_event = listen(f"user.{doctor.user_id}")

    with django_capture_on_commit_callbacks(execute=True):
        results.record(actor=tech, order_id=order.pk, values=[dict(analyte="k", value="6.9"),
                                                              dict(analyte="glu", value="5.0")])

    (note,) = Notification.objects.filter(user=doctor.user, kind="diagnostics.critical")
    assert "Potassium HH" in note.title and order.number in note.title
    assert "6.9" not in note.title and "6.9" not in note.body
    assert note.link == f"/diagnostics/orders/{order.pk}/"
    event = next_event()
    assert event["type"] == "notification"
    assert (event["kind"], event["title"], event["link"]) == ("diagnostics.critical", note.title, note.link)
    audit = AuditEvent.objects.filter(object_type="diagnostics.diagnosticorder", object_id=str(order.pk)).last()
    assert audit.detail["critical_alerted"] == ["k"]


# ---- sign-off and release -----------------------------------------------------------------------------------------


@pytest.fixture
def resulted(order, tech):
    results.record(actor=tech, order_id=order.pk, values=[dict(analyte="glu", value="5.0")])
    order.refresh_from_db()
    return order


def test_the_ordering_doctor_signs_off_and_the_patient_and_proxies_are_told(resulted, doctor, patient):
    relative = UserFactory()
    Proxy.objects.create(patient=patient, proxy_user=relative, relationship="child", status=ProxyStatus.ACTIVE,
                         requested_by=patient.user)

    order = results.sign_off(actor=doctor.user, order_id=resulted.pk)

    order.refresh_from_db()
    assert (order.status, order.released_by) == (OrderStatus.RELEASED, doctor.user)
    assert order.released_at is not None
    notes = Notification.objects.filter(kind="diagnostics.released")
    assert {n.user for n in notes} == {patient.user, relative}
    assert all(n.link == f"/diagnostics/orders/{order.pk}/" and "5.0" not in n.title + n.body for n in notes)


def test_a_doctor_of_the_same_department_may_sign_off_but_no_other(resulted, doctor):
    colleague = PractitionerFactory(departments=list(doctor.departments.all()))
    stranger = PractitionerFactory()

    with pytest.raises(Forbidden):
        results.sign_off(actor=stranger.user, order_id=resulted.pk)
    with pytest.raises(Forbidden):
        results.sign_off(actor=StaffUserFactory(role=Role.LAB_TECH), order_id=resulted.pk)
    results.sign_off(actor=colleague.user, order_id=resulted.pk)

    resulted.refresh_from_db()
    assert resulted.released_by == colleague.user


def test_only_resulted_orders_are_signed_off(order, doctor):
    with pytest.raises(Conflict) as err:
        results.sign_off(actor=doctor.user, order_id=order.pk)
    assert err.value.code == "not_resulted"


def test_unsigned_results_are_released_after_the_delay_except_critical_ones(panel, doctor, patient, tech, settings):
    settings.DIAGNOSTICS_AUTO_RELEASE_HOURS = 48
    plain, critical, recent = (make_order(panel, doctor, patient) for _ in range(3))
    results.record(actor=tech, order_id=plain.pk, values=[dict(analyte="glu", value="5.0")])
    results.record(actor=tech, order_id=critical.pk, values=[dict(analyte="k", value="2.1")])
    results.record(actor=tech, order_id=recent.pk, values=[dict(analyte="glu", value="5.0")])
    old = timezone.now() - timedelta(hours=49)
    Observation.objects.filter(order__in=[plain, critical]).update(entered_at=old)

    assert results.release_due() == [plain.pk]

    statuses = dict(DiagnosticOrder.objects.values_list("pk", "status"))
    assert statuses == {plain.pk: OrderStatus.RELEASED, critical.pk: OrderStatus.RESULTED,
                        recent.pk: OrderStatus.RESULTED}
    assert Notification.objects.filter(kind="diagnostics.released", user=patient.user).count() == 1
    assert results.release_due() == []


def test_the_release_task_runs_release_due(resulted):
    Observation.objects.filter(order=resulted).update(entered_at=timezone.now() - timedelta(hours=100))

    assert release_due_results.call() == 1
    resulted.refresh_from_db()
    assert resulted.status == OrderStatus.RELEASED and resulted.released_by is None


def test_recording_schedules_the_release_check_which_keeps_what_is_not_due(
        order, tech, settings, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    settings.DIAGNOSTICS_AUTO_RELEASE_HOURS = 24
    with django_capture_on_commit_callbacks(execute=True):
        results.record(actor=tech, order_id=order.pk, values=[dict(analyte="glu", value="5.0")])

    job = DBTaskResult.objects.get(task_path="ihospital.diagnostics.tasks.release_result")
    assert job.args_kwargs["args"] == [order.pk]
    assert timedelta(hours=24) < job.run_after - timezone.now() <= timedelta(hours=24, minutes=1)
    assert release_result.call(order.pk) == "kept"
    Observation.objects.filter(order=order).update(entered_at=timezone.now() - timedelta(hours=25))
    assert release_result.call(order.pk) == "released"
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
