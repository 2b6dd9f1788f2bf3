"""The shipped catalogue (``data/services.json``): its twelve services and what each needs, loading it once or
twice (idempotent, retirements and the hospital's own services left alone), a bad file loading nothing, and the
management command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ihospital.directory.models import NURSE_TITLE_RANK, Title
from ihospital.homecare import assessing, catalogue
from ihospital.homecare.models import EligibleGroup, NursingService, Skill
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

SEED = {"infusion", "urinary_catheter", "ostomy_care", "wound_dressing", "maternal_infant"}
COMMON = {"picc_care", "pressure_ulcer", "ng_tube", "newborn_care", "postpartum_care", "blood_draw", "injection"}


def shipped() -> list[dict]:
    return json.loads(catalogue.DATA.read_text(encoding="utf-8"))


def test_the_shipped_catalogue_loads_twelve_services():
    created, updated = catalogue.load()
    assert (created, updated) == (12, 0)
    assert set(NursingService.objects.values_list("code", flat=True)) == SEED | COMMON
    # In the file's order, which is the order patients see.
    assert list(NursingService.objects.values_list("code", flat=True)) == [e["code"] for e in shipped()]
    picc = NursingService.objects.get(code="picc_care")
    assert (picc.skill, picc.min_title, picc.name_zh, picc.name_en) == (Skill.PICC, Title.SUPERVISOR_NURSE,
                                                                       "PICC导管维护", "PICC line care")
    assert NursingService.objects.get(code="infusion").needs_doctor_order
    assert set(NursingService.objects.get(code="newborn_care").eligible_groups) == {EligibleGroup.MOTHER_NEWBORN}


def test_loading_again_creates_nothing_and_keeps_what_the_hospital_changed():
    catalogue.load()
    NursingService.objects.filter(code="injection").update(active=False)  # retired in the admin
    NursingService.objects.filter(code="blood_draw").update(price_fen=1)  # a typo in the admin, fixed by the file
    own = NursingService.objects.create(code="tcm_moxibustion", name_zh="艾灸", name_en="Moxibustion",
                                        description_zh="中医护理", description_en="TCM nursing", duration_minutes=40,
                                        price_fen=9000, eligible_groups=["elderly"])
    before = {s.code: (s.name_zh, s.duration_minutes, s.consumables) for s in NursingService.objects.all()}

    assert catalogue.load() == (0, 12)

    assert NursingService.objects.count() == 13
    assert {s.code: (s.name_zh, s.duration_minutes, s.consumables) for s in NursingService.objects.all()} == before
    assert not NursingService.objects.get(code="injection").active
    assert NursingService.objects.get(code="blood_draw").price_fen == 5000
    assert NursingService.objects.get(pk=own.pk).active


def _bad_files(tmp_path):
    good = dict(shipped()[0], code="new_service")
    cases = {
        "unknown skill": [good, dict(shipped()[1], skill="acupuncture")],
        "missing field": [good, {k: v for k, v in shipped()[1].items() if k != "duration_minutes"}],
        "unknown group": [good, dict(shipped()[1], eligible_groups=["elderly", "athletes"])],
        "no group": [good, dict(shipped()[1], eligible_groups=[])],
        "a doctor's title": [good, dict(shipped()[1], min_title=Title.ATTENDING)],
        "zero minutes": [good, dict(shipped()[1], duration_minutes=0)],
        "free": [good, dict(shipped()[1], price_fen=0)],
        "the same code twice": [good, dict(shipped()[1], code="new_service")],
        "an object, not a list": {"code": "new_service"},
        "a consumable without a price": [good, dict(shipped()[1], consumables=[{"code": "x", "zh": "x", "en": "x",
                                                                               "qty": 1}])],
    }
    for name, entries in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
        yield name, path


def test_a_bad_file_loads_nothing(tmp_path):
    catalogue.load()
    before = sorted(NursingService.objects.values_list("code", "name_zh", "price_fen", "skill"))
    for name, path in _bad_files(tmp_path):
        with pytest.raises(catalogue.CatalogueError):
            catalogue.load(path)
        # The good first entry was not created, the second not changed.
        assert sorted(NursingService.objects.values_list("code", "name_zh", "price_fen", "skill")) == before, name


def test_the_error_names_the_entry_and_the_problem(tmp_path):
    path = dict(_bad_files(tmp_path))["unknown skill"]
    with pytest.raises(catalogue.CatalogueError) as caught:
        catalogue.load(path)
    assert "service 2 (urinary_catheter)" in str(caught.value) and "acupuncture" in str(caught.value)


def test_the_management_command(tmp_path):
    out = StringIO()
    call_command("load_homecare_catalogue", stdout=out)
    assert "12 created, 0 updated" in out.getvalue()
    out = StringIO()
    call_command("load_homecare_catalogue", stdout=out)
    assert "0 created, 12 updated" in out.getvalue()

    path = dict(_bad_files(tmp_path))["missing field"]
    with pytest.raises(CommandError, match="nothing loaded: .*missing duration_minutes"):
        call_command("load_homecare_catalogue", "--file", str(path))
    with pytest.raises(CommandError, match="nothing loaded"):
        call_command("load_homecare_catalogue", "--file", str(tmp_path / "absent.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(CommandError, match="nothing loaded"):
        call_command("load_homecare_catalogue", "--file", str(broken))
    assert NursingService.objects.count() == 12


@pytest.mark.parametrize("entry", shipped(), ids=lambda e: e["code"])
def test_every_shipped_service_is_well_formed(entry):
    assert entry["skill"] in Skill.values
    assert entry["eligible_groups"] and set(entry["eligible_groups"]) <= set(EligibleGroup.values)
    # Home-care nurses: 护师 or higher with five years at least (the regulation's floor).
    assert NURSE_TITLE_RANK[entry["min_title"]] >= NURSE_TITLE_RANK[Title.NURSE_PRACTITIONER]
    assert entry["min_years"] >= 5
    assert entry["name_zh"].strip() and entry["name_en"].strip()
    assert entry["description_zh"].strip() and entry["description_en"].strip()
    assert 0 < entry["duration_minutes"] <= 240 and entry["price_fen"] > 0
    for item in entry["consumables"]:
        assert item["code"] and item["zh"] and item["en"] and item["qty"] >= 1 and item["price_fen"] >= 0
    assert len({c["code"] for c in entry["consumables"]}) == len(entry["consumables"])
    # Mother-and-baby services need the maternal-infant specialty, and are only for mothers and newborns.
    if entry["skill"] == Skill.MATERNAL_INFANT:
        assert entry["eligible_groups"] == [EligibleGroup.MOTHER_NEWBORN]


def test_every_group_can_book_something_and_a_qualified_nurse_exists_for_every_service():
    entries = shipped()
    assert len({e["code"] for e in entries}) == len(entries) == 12
    for group in EligibleGroup.values:
        assert any(group in e["eligible_groups"] for e in entries), group
    f.load_catalogue()
    generalist = f.home_nurse(skills=("wound_ostomy", "picc", "maternal_infant", "palliative"))
    assert all(assessing.qualification_refusal(generalist, s) is None for s in NursingService.objects.all())
    practitioner = f.home_nurse(title=Title.NURSE_PRACTITIONER, skills=())
    refusals = {s.code: assessing.qualification_refusal(practitioner, s) for s in NursingService.objects.all()}
    assert refusals["wound_dressing"] is None and refusals["picc_care"] == "title_too_low"
    assert refusals["ostomy_care"] == "skill_missing"
