"""Where an address is on the map, behind an adapter.

Contract: ``geocoder().geocode(text) -> Place | None``. ``Place.precision`` says how exact the point is:
``"landmark"`` or ``"community"`` (a building or an estate), ``"street"``, ``"district"``. Booking accepts a
street or better: a nurse cannot be sent to a district. ``None`` means not found. An implementation never raises
for an unknown address, and raises ``GeocoderUnavailable`` when its service cannot be reached (the booking then
asks the user to drop a pin instead).

Built in (``HOMECARE_GEOCODER=addressbook``): the bundled address book ``data/addressbook.csv`` (name, aliases,
level, district, latitude, longitude; WGS-84), matched without any network. A hospital replaces the file with
its own city's, or plugs in a map provider's geocoder (AMap, Baidu, Tencent: mind their GCJ-02/BD-09
coordinates) by a dotted path in the setting.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

PRECISION_RANK = {"district": 1, "street": 2, "community": 3, "landmark": 3}
PRECISE_ENOUGH = 2  # a street at least


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float
    label: str
    precision: str

    @property
    def precise_enough(self) -> bool:
        return PRECISION_RANK.get(self.precision, 0) >= PRECISE_ENOUGH


class GeocoderUnavailable(Exception):
    pass


class Geocoder(Protocol):
    def geocode(self, text: str) -> Place | None: ...


@dataclass(frozen=True)
class _Entry:
    names: tuple[str, ...]
    level: str
    district: str
    latitude: float
    longitude: float


# Province and city prefixes add nothing to a match inside one city's address book.
_PREFIXES = re.compile(r"^(山西省|山西|太原市|太原|shanxi( province)?|taiyuan( city)?)[\s,，]*", re.IGNORECASE)


def _normal(text: str) -> str:
    text = re.sub(r"\s+", " ", (text or "").strip().lower())
    while True:
        stripped = _PREFIXES.sub("", text).strip(" ,，")
        if stripped == text:
            return text
        text = stripped


class AddressBook:
    """Finds the most precise entry whose name or alias occurs in the address (an estate beats its street, a
    street beats its district; among equals the longer name), and checks it against the district when the
    address names one (桃园社区 in 小店区 is not the one in 迎泽区)."""

    def __init__(self, path: Path | None = None):
        self.entries = _load(str(path or Path(__file__).parent / "data" / "addressbook.csv"))

    def geocode(self, text: str) -> Place | None:
        address = _normal(text)
        if not address:
            return None
        # Names that start with a prefix (山西省人民医院, 太原市中心医院) are looked for in the text as typed too.
        typed = re.sub(r"\s+", " ", text.strip().lower())
        districts = {e.district for e in self.entries if e.level == "district" and _mentions(address, e)}
        best, best_key = None, None
        for entry in self.entries:
            name = _mentions(address, entry) or _mentions(typed, entry)
            if not name or (districts and entry.district not in districts):
                continue
            key = (PRECISION_RANK.get(entry.level, 0), len(name))
            if best_key is None or key > best_key:
                best, best_key = entry, key
        if best is None:
            return None
        label = best.names[0] if best.level == "district" else f"{best.district}{best.names[0]}"
        return Place(latitude=best.latitude, longitude=best.longitude, label=label, precision=best.level)


def _mentions(address: str, entry: _Entry) -> str:
    for name in entry.names:
        if name and name.lower() in address:
            return name
    return ""


@cache
def _load(path: str) -> tuple[_Entry, ...]:
    with open(path, encoding="utf-8") as f:
        return tuple(
            _Entry(names=(row["name"], *[a.strip() for a in row["aliases"].split("|") if a.strip()]),
                   level=row["level"], district=row["district"],
                   latitude=float(row["latitude"]), longitude=float(row["longitude"]))
            for row in csv.DictReader(f)
        )


def geocoder() -> Geocoder:
    name = settings.HOMECARE_GEOCODER
    if name == "addressbook":
        return AddressBook()
    return import_string(name)()
