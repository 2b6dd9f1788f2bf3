"""Where an address is: the built-in address book (an estate over its street over its district, the district the
address names, prefixes of the province and city, English aliases), the adapter chosen by a dotted path, and
booking's ``locate`` (a pin, a geocoder that cannot be reached, the service area)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext

from ihospital.core.errors import DomainError
from ihospital.homecare import booking, geocoding
from ihospital.homecare.geocoding import AddressBook, Place

BOOK = AddressBook()


def where(text: str) -> tuple[str, str] | None:
    place = BOOK.geocode(text)
    return (place.label, place.precision) if place else None


class FixedGeocoder:
    """A stand-in for a map provider's geocoder: every address is the same landmark."""

    def geocode(self, text: str) -> Place | None:
        return Place(latitude=37.8700, longitude=112.5600, label=f"provider: {text}", precision="landmark")


class OfflineGeocoder:
    def geocode(self, text: str) -> Place | None:
        raise geocoding.GeocoderUnavailable("the provider did not answer")


def refused(code: str, *args) -> DomainError:
    with pytest.raises(DomainError) as caught:
        booking.locate(*args)
    assert caught.value.code == code, caught.value.code
    return caught.value


# ---- the address book --------------------------------------------------------------------------------------------


def test_an_estate_beats_its_street_which_beats_its_district():
    assert where("迎泽区双塔寺街双塔寺社区5号楼") == ("迎泽区双塔寺社区", "community")
    assert where("迎泽区双塔寺街118号") == ("迎泽区双塔寺街", "street")
    assert where("迎泽区") == ("迎泽区", "district")
    # Among names of one level, the longer (more specific) one.
    assert where("晋源区新晋祠路1号") == ("晋源区新晋祠路", "street")
    assert where("五一路社区2单元") == ("迎泽区五一路社区", "community")


def test_a_district_alone_is_not_precise_enough_to_send_a_nurse():
    place = BOOK.geocode("太原市小店区")
    assert (place.precision, place.precise_enough) == ("district", False)
    assert BOOK.geocode("小店区长风街").precise_enough
    assert BOOK.geocode("山西省人民医院").precise_enough


def test_the_district_named_in_the_address_decides_between_places_of_the_same_name():
    assert where("迎泽区桃园社区") == ("迎泽区桃园社区", "community")
    # 桃园社区 is in 迎泽区: named with another district, the book will not guess (district only).
    assert where("小店区桃园社区") == ("小店区", "district")
    assert where("桃园社区") == ("迎泽区桃园社区", "community")


def test_province_and_city_prefixes_are_ignored():
    expected = ("迎泽区双塔寺社区", "community")
    for text in ("山西省太原市迎泽区双塔寺社区", "山西太原双塔寺社区", "太原市 双塔寺社区", "  太原，双塔寺社区 "):
        assert where(text) == expected, text
    # Names that begin with the prefix itself are still found…
    assert where("山西省人民医院") == ("迎泽区山西省人民医院", "landmark")
    assert where("太原市中心医院住院部") == ("杏花岭区太原市中心医院", "landmark")
    # …but another hospital whose name only shares the tail is not taken for them.
    assert where("太原市人民医院") is None


def test_english_aliases():
    assert where("Shuangtasi Community, Yingze District, Taiyuan") == ("迎泽区双塔寺社区", "community")
    assert where("Building 3, TAOYUAN COMMUNITY") == ("迎泽区桃园社区", "community")
    assert where("Shanxi Province, Taiyuan City, 8 Yingze Street") == ("迎泽区迎泽大街", "street")
    assert where("Shanxi Provincial People's Hospital") == ("迎泽区山西省人民医院", "landmark")
    assert where("Xiaodian District") == ("小店区", "district")


def test_unknown_addresses_are_none():
    for text in ("火星基地一号", "北京市朝阳区建国路", "", "   ", "太原市", "Shanxi"):
        assert BOOK.geocode(text) is None, text


def test_the_shipped_address_book_is_consistent():
    with (Path(geocoding.__file__).parent / "data" / "addressbook.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    districts = {r["name"] for r in rows if r["level"] == "district"}
    names = [n.lower() for r in rows for n in [r["name"], *filter(None, r["aliases"].split("|"))]]
    assert len(names) == len(set(names))
    for row in rows:
        assert row["level"] in geocoding.PRECISION_RANK, row
        assert row["district"] in districts, row
        # Taiyuan's six urban districts (WGS-84).
        assert 37.6 < float(row["latitude"]) < 38.1 and 112.3 < float(row["longitude"]) < 112.8, row


# ---- the adapter -------------------------------------------------------------------------------------------------


def test_the_built_in_geocoder_by_default(settings):
    settings.HOMECARE_GEOCODER = "addressbook"
    assert isinstance(geocoding.geocoder(), AddressBook)


def test_a_dotted_path_plugs_in_another_geocoder(settings):
    settings.HOMECARE_GEOCODER = "tests.homecare.test_geocoding.FixedGeocoder"
    assert isinstance(geocoding.geocoder(), FixedGeocoder)
    located = booking.locate("火星基地一号")  # unknown to the address book, known to the provider
    assert (located.label, located.precision, located.latitude) == ("provider: 火星基地一号", "landmark", 37.87)


def test_a_geocoder_that_cannot_be_reached_asks_for_a_pin(settings):
    settings.HOMECARE_GEOCODER = "tests.homecare.test_geocoding.OfflineGeocoder"
    error = refused("address_not_found", "迎泽区双塔寺社区")
    with translation.override("en"):
        assert "put a pin on the map" in str(error.message)
    # The pin needs no geocoder.
    assert booking.locate("迎泽区双塔寺社区", 37.8561, 112.5702).precision == "pin"


# ---- booking.locate ----------------------------------------------------------------------------------------------


def test_locate_with_the_address_book(settings):
    settings.HOMECARE_GEOCODER = "addressbook"
    located = booking.locate("太原市迎泽区双塔寺社区3号楼")
    assert (located.latitude, located.longitude, located.label, located.precision) == (
        37.856, 112.57, "迎泽区双塔寺社区", "community")
    refused("address_not_found", "小店区")
    refused("address_not_found", "火星基地一号")
    refused("address_required", "  ")
    refused("invalid_address", "迎泽区" * 100)


def test_locate_with_a_pin(settings):
    settings.HOMECARE_GEOCODER = "addressbook"
    located = booking.locate("某某小区（地图上找不到）", "37.8601", "112.5502")
    assert (located.latitude, located.longitude, located.precision) == (37.8601, 112.5502, "pin")
    assert located.label == gettext("map pin")  # in the language of the request
    # One coordinate alone is no pin: the address is looked up.
    assert booking.locate("迎泽区双塔寺社区", 37.9, None).precision == "community"
    refused("invalid_coordinates", "某小区", "north", "east")
    refused("invalid_coordinates", "某小区", 95, 112.5)
    refused("invalid_coordinates", "某小区", 37.8, 200)


def test_outside_the_service_area(settings):
    settings.HOMECARE_GEOCODER = "addressbook"
    with translation.override("en"):
        error = refused("outside_service_area", "北京市东城区", 39.9042, 116.4074)
        assert "our nurses go up to 30 km" in str(error.message)
    settings.HOMECARE_SERVICE_RADIUS_KM = 5
    assert booking.locate("迎泽区双塔寺社区").precision == "community"  # about 1 km from the hospital
    refused("outside_service_area", "晋源区晋源苑")  # about 16 km
