"""The shipped medical-test catalogue (``data/tests.json``, ``data/resources.json``): what it holds and how
sound its clinical values are, loading it once or twice (idempotent, the hospital's own rows left alone), every
kind of bad entry loading nothing, the management command, and the admin site."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ihospital.diagnostics import catalogue
from ihospital.diagnostics.models import (
    Analyte,
    DiagnosticKind,
    DiagnosticOrder,
    DiagnosticTest,
    ImagingStudy,
    Observation,
    ReferenceRange,
    Resource,
    ResourceSlot,
)
from tests.diagnostics import factories as f
from tests.factories import TOTPDeviceFactory
from tests.helpers import verify_session
from tests.scheduling.factories import AdminUserFactory

pytestmark = pytest.mark.django_db

LABS = {"cbc", "lipid_panel", "hba1c", "fpg", "liver_function", "kidney_function", "electrolytes", "urinalysis",
        "thyroid", "coagulation"}
EXAMS = {"chest_xray", "ct_head", "ct_abdomen_contrast", "mri_head", "us_abdomen", "us_pelvis", "ecg_12",
         "barium_meal", "echo"}
RESOURCES = {"blood_draw", "ct_1", "mri_1", "us_1", "us_2", "echo_1", "dr_1", "ecg_1", "fluoro_1"}


def shipped(path=catalogue.TESTS) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def snapshot() -> tuple:
    return (list(DiagnosticTest.objects.values_list("code", "price_fen", "preparation")),
            list(Analyte.objects.values_list("test__code", "code", "unit")),
            list(ReferenceRange.objects.values_list("analyte__code", "sex", "low", "high")),
            list(Resource.objects.values_list("code", "capacity", "tests__code")))


def write(tmp_path, tests=None, resources=None):
    tests_path, resources_path = tmp_path / "tests.json", tmp_path / "resources.json"
    tests_path.write_text(json.dumps(shipped() if tests is None else tests, ensure_ascii=False), encoding="utf-8")
    resources_path.write_text(json.dumps(shipped(catalogue.RESOURCES) if resources is None else resources,
                                         ensure_ascii=False), encoding="utf-8")
    return tests_path, resources_path


def test_the_shipped_catalogue_loads():
    report = catalogue.load()
    analytes = sum(len(t.get("analytes", [])) for t in shipped())
    ranges = sum(len(a["ranges"]) for t in shipped() for a in t.get("analytes", []))
    assert (report.tests_created, report.tests_updated) == (19, 0)
    assert (report.analytes_created, report.ranges, report.resources_created) == (analytes, ranges, 9)
    assert analytes == Analyte.objects.count() == 47 and ranges == ReferenceRange.objects.count()
    assert set(DiagnosticTest.objects.filter(kind=DiagnosticKind.LAB).values_list("code", flat=True)) == LABS
    assert set(DiagnosticTest.objects.exclude(kind=DiagnosticKind.LAB).values_list("code", flat=True)) == EXAMS
    assert set(Resource.objects.values_list("code", flat=True)) == RESOURCES
    hgb = Analyte.objects.get(test__code="cbc", code="hgb")
    assert (hgb.loinc, hgb.unit, hgb.name_zh) == ("718-7", "g/L", "血红蛋白")
    male = hgb.ranges.get(sex="M", age_min=18)
    assert (male.low, male.high, male.critical_low) == (Decimal(130), Decimal(175), Decimal(60))
    potassium = ReferenceRange.objects.get(analyte__test__code="electrolytes", analyte__code="k")
    assert (potassium.low, potassium.high, potassium.critical_low, potassium.critical_high) == (
        Decimal("3.5"), Decimal("5.3"), Decimal("2.8"), Decimal("6.2"))
    assert DiagnosticTest.objects.get(code="ecg_12").kind == DiagnosticKind.FUNCTIONAL
    draw = Resource.objects.get(code="blood_draw")
    assert (draw.slot_minutes, draw.capacity) == (10, 6)
    assert draw.hours["5"] == [["07:30", "11:30"]] and "6" not in draw.hours
    assert draw.hours["0"] == [["07:30", "11:30"], ["14:00", "16:30"]]
    assert set(draw.tests.values_list("code", flat=True)) == LABS


def test_a_second_load_creates_nothing_and_changes_nothing():
    catalogue.load()
    before = snapshot()
    report = catalogue.load()
    assert report.created == 0
    assert (report.tests_updated, report.analytes_updated, report.resources_updated) == (19, 47, 9)
    assert snapshot() == before


def test_reloading_refreshes_values_and_leaves_the_hospitals_own_rows_alone(tmp_path):
    catalogue.load()
    own = f.DiagnosticTestFactory(code="ferritin")
    DiagnosticTest.objects.filter(code="cbc").update(price_fen=1, active=False)
    Resource.objects.get(code="ct_1").tests.add(own)
    tests = shipped()
    glucose = next(t for t in tests if t["code"] == "fpg")
    glucose["analytes"][0]["ranges"] = [{"sex": "", "age_min": 18, "age_max": 200, "low": 3.9, "high": 5.6,
                                         "critical_low": 2.5, "critical_high": 25.0}]
    catalogue.load(*write(tmp_path, tests=tests))
    cbc = DiagnosticTest.objects.get(code="cbc")
    assert cbc.price_fen == 2000 and cbc.active is False  # the price comes from the file, retirement stays
    assert DiagnosticTest.objects.filter(code="ferritin").exists()
    assert own in Resource.objects.get(code="ct_1").tests.all()
    fpg = ReferenceRange.objects.get(analyte__test__code="fpg")
    assert (fpg.high, fpg.critical_low) == (Decimal("5.6"), Decimal("2.5"))


def test_every_lab_analyte_has_adult_ranges_for_both_sexes():
    for test in shipped():
        for analyte in test.get("analytes", []):
            if analyte.get("result") == "text":
                assert test["code"] == "urinalysis" and not analyte["unit"] and not analyte["ranges"]
                continue
            adult = [r for r in analyte["ranges"] if r["age_min"] <= 40 < r["age_max"]]
            sexes = {r["sex"] for r in adult}
            assert "" in sexes or sexes >= {"F", "M"}, (test["code"], analyte["code"])
            older = [r for r in analyte["ranges"] if r["age_min"] <= 70 < r["age_max"]]
            assert "" in {r["sex"] for r in older} or {r["sex"] for r in older} >= {"F", "M"}, analyte["code"]


def test_critical_limits_lie_outside_the_normal_ranges():
    critical = set()
    for test in shipped():
        for analyte in test.get("analytes", []):
            for r in analyte["ranges"]:
                low, high = r.get("low"), r.get("high")
                if r.get("critical_low") is not None:
                    assert r["critical_low"] < (low if low is not None else high)
                    critical.add(analyte["code"])
                if r.get("critical_high") is not None:
                    assert r["critical_high"] > (high if high is not None else low)
                    critical.add(analyte["code"])
                if low is not None and high is not None:
                    assert low <= high
    assert {"k", "na", "glu", "hgb", "plt", "wbc", "crea", "inr"} <= critical


def test_the_exams_preparation_rules():
    catalogue.load()
    contrast = DiagnosticTest.objects.get(code="ct_abdomen_contrast")
    assert contrast.needs_contrast and contrast.preparation["fasting_hours"] == 4
    assert {"contrast_allergy", "kidney_function"} <= set(contrast.preparation["safety_questions"])
    assert "barium_meal" in contrast.preparation["not_same_day_after"]
    assert not DiagnosticTest.objects.get(code="ct_head").needs_contrast
    assert "起搏器" in DiagnosticTest.objects.get(code="mri_head").preparation_zh
    assert "metal" in DiagnosticTest.objects.get(code="mri_head").preparation_en
    assert DiagnosticTest.objects.get(code="us_pelvis").preparation == {"full_bladder": True}
    assert DiagnosticTest.objects.get(code="us_abdomen").preparation["fasting_hours"] == 8
    for test in DiagnosticTest.objects.all():
        if test.preparation.get("fasting_hours", 0) >= 8:
            assert test.preparation["morning_only"] is True, test.code
    assert {t.code for t in DiagnosticTest.objects.all() if t.preparation.get("fasting_hours", 0) >= 8} == {
        "lipid_panel", "fpg", "liver_function", "kidney_function", "us_abdomen", "barium_meal"}
    for test in DiagnosticTest.objects.all():
        assert test.price_fen > 0 and test.turnaround_hours > 0 and test.name_zh and test.name_en


def test_every_test_is_performed_by_a_resource():
    catalogue.load()
    for test in DiagnosticTest.objects.all():
        assert test.resources.exists(), test.code
    assert set(Resource.objects.get(code="us_1").tests.values_list("code", flat=True)) == {"us_abdomen",
                                                                                          "us_pelvis"}


def _break(entries, code, change):
    entries = copy.deepcopy(entries)
    change(next(e for e in entries if e["code"] == code))
    return entries


def _cbc_range(key, value):
    def change(test):
        test["analytes"][2]["ranges"][0][key] = value
    return change


BAD_TESTS = {
    "unknown kind": ("cbc", lambda t: t.update(kind="genetic")),
    "unknown modality": ("ct_head", lambda t: t.update(modality="PET")),
    "unknown specimen": ("cbc", lambda t: t.update(specimen="saliva")),
    "a lab test has analytes": ("fpg", lambda t: t.update(analytes=[])),
    "low 200 is above high": ("cbc", _cbc_range("low", 200)),
    "critical_low 140 is not below": ("cbc", _cbc_range("critical_low", 140)),
    "critical_high 150 is not above": ("cbc", _cbc_range("critical_high", 150)),
    "unknown preparation rule": ("us_abdomen", lambda t: t["preparation"].update(bring_snacks=True)),
    "is morning_only": ("fpg", lambda t: t["preparation"].update(morning_only=False)),
    "not_same_day_after names unknown": ("ct_head", lambda t: t["preparation"].update(
        not_same_day_after=["colonoscopy"])),
    "not_same_day_as must be a list": ("ct_head", lambda t: t["preparation"].update(not_same_day_as="echo")),
    "safety_questions must be some of": ("mri_head", lambda t: t["preparation"].update(
        safety_questions=["star_sign"])),
    "fasting_hours must be": ("fpg", lambda t: t["preparation"].update(fasting_hours=36)),
    "two ranges cover the same sex and age": ("electrolytes", lambda t: t["analytes"][0]["ranges"].append(
        {"sex": "F", "age_min": 30, "age_max": 50, "low": 3.4, "high": 5.1})),
    "price_fen": ("ecg_12", lambda t: t.update(price_fen=0)),
}


@pytest.mark.parametrize("message", BAD_TESTS)
def test_a_bad_test_loads_nothing(tmp_path, message):
    catalogue.load()
    DiagnosticTest.objects.filter(code="cbc").update(price_fen=1)
    before = snapshot()
    code, change = BAD_TESTS[message]
    tests = _break(shipped(), code, change)
    tests.append(dict(next(t for t in shipped() if t["code"] == "ct_head"), code="ct_chest"))  # would be new
    with pytest.raises(catalogue.CatalogueError, match=f"test \\d+ \\({code}\\): .*{message}"):
        catalogue.load(*write(tmp_path, tests=tests))
    assert snapshot() == before
    assert not DiagnosticTest.objects.filter(code="ct_chest").exists()


BAD_RESOURCES = {
    "unknown test\\(s\\) \\['colonoscopy'\\]": ("ct_1", lambda r: r["tests"].append("colonoscopy")),
    "is not \\[\"HH:MM\", \"HH:MM\"\\]": ("mri_1", lambda r: r["hours"].update({"2": [["8am", "noon"]]})),
    "is not a weekday": ("mri_1", lambda r: r["hours"].update({"7": [["08:00", "12:00"]]})),
    "periods must be in order": ("dr_1", lambda r: r["hours"].update({"1": [["14:00", "17:00"], ["08:00", "12:00"]]})),
    "capacity must be": ("us_2", lambda r: r.update(capacity=0)),
}


@pytest.mark.parametrize("message", BAD_RESOURCES)
def test_a_bad_resource_loads_nothing(tmp_path, message):
    code, change = BAD_RESOURCES[message]
    with pytest.raises(catalogue.CatalogueError, match=f"resource \\d+ \\({code}\\): .*{message}"):
        catalogue.load(*write(tmp_path, resources=_break(shipped(catalogue.RESOURCES), code, change)))
    assert snapshot() == ([], [], [], [])


def test_a_file_with_a_code_twice_loads_nothing(tmp_path):
    tests = shipped()
    with pytest.raises(catalogue.CatalogueError, match="a code appears twice: \\['cbc'\\]"):
        catalogue.load(*write(tmp_path, tests=[*tests, tests[0]]))
    assert not DiagnosticTest.objects.exists()


def test_qualitative_results_are_flagged_on_the_dipstick_scale():
    assert [catalogue.text_flag(t) for t in ("阴性", "-", "Negative ", "±", "1+", "3+")] == ["N", "N", "N", "A",
                                                                                            "A", "A"]


def test_the_management_command(tmp_path):
    out = StringIO()
    call_command("load_diagnostics_catalogue", stdout=out)
    assert "tests created 19" in out.getvalue() and "resources created 9" in out.getvalue()
    call_command("load_diagnostics_catalogue", stdout=out)
    assert "tests created 0, tests updated 19" in out.getvalue()
    tests_path, resources_path = write(tmp_path, resources=_break(
        shipped(catalogue.RESOURCES), "ct_1", lambda r: r["tests"].append("colonoscopy")))
    with pytest.raises(CommandError, match="^nothing loaded: resource 2 \\(ct_1\\): unknown test"):
        call_command("load_diagnostics_catalogue", tests=str(tests_path), resources=str(resources_path))
    with pytest.raises(CommandError, match="^nothing loaded: "):
        call_command("load_diagnostics_catalogue", tests=str(tmp_path / "missing.json"))


@pytest.fixture
def admin_client(client):
    user = AdminUserFactory(is_superuser=True, language="en")  # the messages checked are the English ones
    client.force_login(user)
    verify_session(client, TOTPDeviceFactory(user=user))
    client.user = user
    return client


@pytest.fixture
def some_of_everything(admin_client, patient, doctor, encounter):
    catalogue.load()
    slot = f.ResourceSlotFactory(resource=Resource.objects.get(code="ct_1"))
    lab = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, encounter=encounter,
                                   test=DiagnosticTest.objects.get(code="electrolytes"))
    Observation.objects.create(order=lab, analyte=Analyte.objects.get(test__code="electrolytes", code="k"),
                               value=Decimal("6.5"), unit="mmol/L", flag="HH", observed_at=timezone.now(),
                               entered_by=admin_client.user)
    ct = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, encounter=encounter,
                                  test=DiagnosticTest.objects.get(code="ct_head"))
    ImagingStudy.objects.create(order=ct, study_uid="1.2.826.0.1.3680043.8.498.1", modality="CT")
    return {"resourceslot": slot, "diagnosticorder": lab, "observation": Observation.objects.get(),
            "imagingstudy": ImagingStudy.objects.get()}


def test_every_admin_page_renders(admin_client, some_of_everything):
    for model in ("diagnostictest", "analyte", "resource", "resourceslot", "diagnosticorder", "observation",
                  "imagingstudy"):
        assert admin_client.get(f"/admin/diagnostics/{model}/").status_code == 200, model
    cbc = DiagnosticTest.objects.get(code="cbc")
    page = admin_client.get(f"/admin/diagnostics/diagnostictest/{cbc.pk}/change/")
    assert page.status_code == 200 and "血红蛋白" in page.content.decode()
    hgb = Analyte.objects.get(test=cbc, code="hgb")
    assert admin_client.get(f"/admin/diagnostics/analyte/{hgb.pk}/change/").status_code == 200
    ct = Resource.objects.get(code="ct_1")
    assert admin_client.get(f"/admin/diagnostics/resource/{ct.pk}/change/").status_code == 200
    order = some_of_everything["diagnosticorder"]
    assert admin_client.get(f"/admin/diagnostics/diagnosticorder/{order.pk}/change/").status_code == 200


def test_the_workflows_records_are_read_only(admin_client, some_of_everything):
    for model, row in some_of_everything.items():
        assert admin_client.get(f"/admin/diagnostics/{model}/add/").status_code == 403, model
        assert admin_client.post(f"/admin/diagnostics/{model}/{row.pk}/delete/", {"post": "yes"}
                                 ).status_code == 403, model
    order = some_of_everything["diagnosticorder"]
    assert admin_client.post(f"/admin/diagnostics/diagnosticorder/{order.pk}/change/",
                             {"status": "released"}).status_code == 403
    assert DiagnosticOrder.objects.get(pk=order.pk).status == "ordered"
    assert (ResourceSlot.objects.count(), DiagnosticOrder.objects.count(), Observation.objects.count(),
            ImagingStudy.objects.count()) == (1, 2, 1, 1)


def change_form(test: DiagnosticTest, **changes) -> dict:
    data = {field: getattr(test, field) for field in (
        "kind", "name_zh", "name_en", "loinc", "specimen", "modality", "body_part", "preparation_zh",
        "preparation_en", "duration_minutes", "turnaround_hours", "price_fen", "position")}
    data["preparation"] = json.dumps(test.preparation)
    if test.active:
        data["active"] = "on"
    analytes = list(test.analytes.all())
    data |= {"analytes-TOTAL_FORMS": str(len(analytes)), "analytes-INITIAL_FORMS": str(len(analytes))}
    for i, analyte in enumerate(analytes):
        data |= {f"analytes-{i}-{field}": getattr(analyte, field) for field in (
            "id", "code", "loinc", "name_zh", "name_en", "unit", "decimals", "position")}
        data[f"analytes-{i}-test"] = test.pk
    return data | changes


def test_a_test_is_edited_with_the_catalogues_checks_and_never_deleted(admin_client):
    catalogue.load()
    test = DiagnosticTest.objects.get(code="fpg")
    url = f"/admin/diagnostics/diagnostictest/{test.pk}/change/"
    refused = [
        admin_client.post(url, change_form(test, preparation='{"fasting_hours": 8, "morning_only": false}')),
        admin_client.post(url, change_form(test, preparation='{"bring_snacks": true}')),
        admin_client.post(url, change_form(test, modality="CT")),
        admin_client.post(url, change_form(test, price_fen=0)),
    ]
    for response in refused:
        assert response.status_code == 200 and "errornote" in response.content.decode()
    assert "is morning_only" in refused[0].content.decode()
    after = DiagnosticTest.objects.get(pk=test.pk)
    assert (after.preparation, after.modality, after.price_fen) == (test.preparation, "", test.price_fen)

    saved = admin_client.post(url, change_form(test, price_fen=800, active=""))
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    test.refresh_from_db()
    assert (test.price_fen, test.active, test.code) == (800, False, "fpg")
    assert admin_client.post(f"/admin/diagnostics/diagnostictest/{test.pk}/delete/", {"post": "yes"}
                             ).status_code == 403
    assert DiagnosticTest.objects.filter(pk=test.pk).exists()


def test_a_reference_range_is_edited_with_the_loaders_checks(admin_client):
    catalogue.load()
    potassium = Analyte.objects.get(test__code="electrolytes", code="k")
    only = potassium.ranges.get()
    url = f"/admin/diagnostics/analyte/{potassium.pk}/change/"

    def form(**changes):
        data = {"loinc": potassium.loinc, "name_zh": potassium.name_zh, "name_en": potassium.name_en,
                "unit": potassium.unit, "decimals": potassium.decimals, "position": potassium.position,
                "ranges-TOTAL_FORMS": "1", "ranges-INITIAL_FORMS": "1", "ranges-0-id": only.pk,
                "ranges-0-analyte": potassium.pk, "ranges-0-sex": "", "ranges-0-age_min": 18,
                "ranges-0-age_max": 200, "ranges-0-low": "3.5", "ranges-0-high": "5.3",
                "ranges-0-critical_low": "2.8", "ranges-0-critical_high": "6.2"}
        return data | {f"ranges-0-{key}": value for key, value in changes.items()}

    inside = admin_client.post(url, form(critical_high="5.0"))
    assert inside.status_code == 200 and "critical_high 5.0 is not above the normal range" in inside.content.decode()
    upside_down = admin_client.post(url, form(low="6.0"))
    assert upside_down.status_code == 200 and "is above high" in upside_down.content.decode()
    assert potassium.ranges.get().critical_high == Decimal("6.2")
    assert admin_client.post(url, form(critical_high="6.5")).status_code == 302
    assert potassium.ranges.get().critical_high == Decimal("6.5")
    assert admin_client.post(f"/admin/diagnostics/analyte/{potassium.pk}/delete/", {"post": "yes"}
                             ).status_code == 403


def test_a_resources_hours_are_checked(admin_client):
    catalogue.load()
    ct = Resource.objects.get(code="ct_1")
    url = f"/admin/diagnostics/resource/{ct.pk}/change/"
    form = {"name_zh": ct.name_zh, "name_en": ct.name_en, "location_zh": ct.location_zh,
            "location_en": ct.location_en, "tests": [t.pk for t in ct.tests.all()], "slot_minutes": 15,
            "capacity": 1, "active": "on"}
    bad = admin_client.post(url, form | {"hours": '{"1": [["8am", "noon"]]}'})
    assert bad.status_code == 200 and "is not [" in bad.content.decode()
    assert admin_client.post(url, form | {"hours": '{"1": [["08:00", "12:00"]]}', "capacity": 2}).status_code == 302
    ct.refresh_from_db()
    assert (ct.hours, ct.capacity) == ({"1": [["08:00", "12:00"]]}, 2)
    assert admin_client.post(f"/admin/diagnostics/resource/{ct.pk}/delete/", {"post": "yes"}).status_code == 403
