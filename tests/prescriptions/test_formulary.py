"""The shipped formulary and its loader (``ihospital load_formulary``): the files load, loading again changes
nothing, and a bad file is refused whole."""

from __future__ import annotations

import csv
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ihospital.core.errors import DomainError
from ihospital.prescriptions import formulary, rules
from ihospital.prescriptions.models import ONLINE_PROHIBITED, AllergyGroup, Drug, Interaction
from ihospital.records.models import Allergy
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

AREAS = {"cardiovascular", "diabetes", "respiratory", "gi", "antibiotic", "analgesic", "dermatology"}


def snapshot() -> dict:
    return {
        "drugs": sorted(Drug.objects.values_list("sku", "price_fen", "control_class", "active", "atc_code")),
        "interactions": sorted(Interaction.objects.values_list("atc_a", "atc_b", "severity")),
        "groups": sorted(AllergyGroup.objects.values_list("key", "keywords")),
    }


@pytest.fixture
def data(tmp_path):
    """A copy of the shipped files to spoil."""
    folder = tmp_path / "data"
    shutil.copytree(formulary.DATA_DIR, folder)
    return folder


def rewrite(path, change):
    """Apply ``change(rows)`` to a CSV file's rows (a list of dicts) and write it back with the same header."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames), list(reader)
    header, rows = change(header, rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


# ---- the shipped files ---------------------------------------------------------------------------------------


def test_the_shipped_files_load():
    report = formulary.load()

    drugs = list(Drug.objects.all())
    assert report.drugs_created == len(drugs) >= 60
    assert report.interactions == Interaction.objects.count() >= 30
    assert report.groups == AllergyGroup.objects.count() > 0
    assert {d.area for d in drugs} >= AREAS
    controlled = {d.control_class for d in drugs} & ONLINE_PROHIBITED
    assert len(controlled) >= 4, controlled
    assert {"narcotic", "psychotropic_1", "psychotropic_2"} <= controlled


def test_every_shipped_value_is_usable():
    formulary.load()
    groups = set(AllergyGroup.objects.values_list("key", flat=True))
    for drug in Drug.objects.all():
        assert len(drug.atc_code) == 7 and drug.unit_amount > 0 and drug.package_size > 0, drug.sku
        assert set(drug.groups) <= groups, drug.sku
        assert drug.generic_name_zh and drug.generic_name_en, drug.sku
        if drug.control_class in ONLINE_PROHIBITED:
            with pytest.raises(DomainError) as caught:
                rules.check_drug(drug)
            assert caught.value.code == "controlled_drug_online"
        else:
            rules.check_drug(drug)
            assert drug.price_fen > 0, drug.sku  # sold online
    for interaction in Interaction.objects.all():
        assert interaction.source and interaction.effect_zh and interaction.effect_en, interaction
        assert interaction.atc_a <= interaction.atc_b  # stored in one order: a pair is found once


def test_the_shipped_allergy_groups_catch_a_chinese_penicillin_allergy():
    from ihospital.prescriptions.checks import _allergy_hits

    formulary.load()
    amoxicillin = Drug.objects.filter(generic_name_en__istartswith="amoxicillin").first()
    patient = PatientFactory()
    allergy = Allergy.objects.create(patient=patient, recorded_by=patient.user, substance="青霉素过敏")
    groups = {g.key: g for g in AllergyGroup.objects.all()}
    assert [a for a, _ in _allergy_hits(amoxicillin, [allergy], groups)] == [allergy]


def test_loading_twice_changes_nothing():
    formulary.load()
    first = snapshot()

    report = formulary.load()

    assert snapshot() == first
    assert report.drugs_created == 0 and report.drugs_updated == len(first["drugs"])


def test_the_command(data):
    out = StringIO()
    call_command("load_formulary", stdout=out)
    assert f"{Drug.objects.count()} drugs added" in out.getvalue()
    call_command("load_formulary", "--dir", str(data), stdout=out)
    assert "0 drugs added" in out.getvalue()


# ---- updating in place -----------------------------------------------------------------------------------------


def test_a_reload_updates_rows_in_place_and_may_retire_missing_drugs(data):
    formulary.load(data)
    first_sku, second_sku = Drug.objects.order_by("sku").values_list("sku", flat=True)[:2]
    kept = Drug.objects.get(sku=second_sku)

    def change(header, rows):
        rows = [r for r in rows if r["sku"] != first_sku]
        for row in rows:
            if row["sku"] == second_sku:
                row["price_fen"] = "12345"
        return header, rows

    rewrite(data / "drugs.csv", change)

    formulary.load(data)
    assert Drug.objects.get(sku=first_sku).active  # not retired unless asked
    report = formulary.load(data, retire_missing=True)

    assert report.drugs_retired == 1
    assert not Drug.objects.get(sku=first_sku).active  # kept for the prescriptions that point at it
    updated = Drug.objects.get(sku=second_sku)
    assert (updated.pk, updated.price_fen) == (kept.pk, 12345)


# ---- a bad file changes nothing -------------------------------------------------------------------------------


def wrong_column(header, rows):
    header = ["ATC"] + header[1:]
    return header, [{"ATC": r.pop("sku"), **r} for r in rows]


def unknown_control_class(header, rows):
    rows[-1]["control_class"] = "dangerous"
    return header, rows


def unknown_allergy_group(header, rows):
    rows[-1]["allergy_groups"] = "unicorns"
    return header, rows


def twice(header, rows):
    return header, rows + [dict(rows[0])]


def not_a_number(header, rows):
    rows[-1]["unit_amount"] = "five"
    return header, rows


def short_atc(header, rows):
    rows[-1]["atc_code"] = "C08"
    return header, rows


@pytest.mark.parametrize("spoil", [wrong_column, unknown_control_class, unknown_allergy_group, twice, not_a_number,
                                   short_atc])
@pytest.mark.parametrize("loaded_before", [False, True])
def test_a_bad_drugs_file_is_refused_whole(data, spoil, loaded_before):
    if loaded_before:
        formulary.load()
    before = snapshot()
    rewrite(data / "drugs.csv", spoil)

    with pytest.raises(DomainError) as caught:
        formulary.load(data)

    assert caught.value.code == "bad_formulary_file"
    assert snapshot() == before  # the allergy groups, loaded first, rolled back too


def test_a_bad_interactions_file_is_refused_whole(data):
    def bad_severity(header, rows):
        rows[-1]["severity"] = "deadly"
        return header, rows

    rewrite(data / "interactions.csv", bad_severity)

    with pytest.raises(DomainError):
        formulary.load(data)
    assert snapshot() == {"drugs": [], "interactions": [], "groups": []}


def test_the_command_reports_a_bad_file(data):
    rewrite(data / "drugs.csv", unknown_control_class)
    with pytest.raises(CommandError, match="dangerous"):
        call_command("load_formulary", "--dir", str(data))
    with pytest.raises(CommandError):
        call_command("load_formulary", "--dir", str(data / "missing"))
    assert Drug.objects.count() == 0
