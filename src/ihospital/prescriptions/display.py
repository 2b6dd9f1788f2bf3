"""Words of the formulary shown to people: the units in ``drugs.csv`` are stored in English (``box``, ``tablet``,
``puff``), and read in the reader's language. Symbols (mg, ml, IU, µg) stay as they are."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

UNITS = {
    "application": pgettext_lazy("drug unit", "application"),
    "bottle": pgettext_lazy("drug unit", "bottle"),
    "box": pgettext_lazy("drug unit", "box"),
    "capsule": pgettext_lazy("drug unit", "capsule"),
    "drop": pgettext_lazy("drug unit", "drop"),
    "inhaler": pgettext_lazy("drug unit", "inhaler"),
    "patch": pgettext_lazy("drug unit", "patch"),
    "pen": pgettext_lazy("drug unit", "pen"),
    "puff": pgettext_lazy("drug unit", "puff"),
    "sachet": pgettext_lazy("drug unit", "sachet"),
    "tablet": pgettext_lazy("drug unit", "tablet"),
    "tube": pgettext_lazy("drug unit", "tube"),
    "vial": pgettext_lazy("drug unit", "vial"),
}


def unit_label(unit: str) -> str:
    return str(UNITS.get(unit, unit))


def package_label(drug) -> str:
    """"28 tablets per box", in the reader's language."""
    return str(_("%(size)s %(unit)s per %(package)s") % {
        "size": drug.package_size, "unit": unit_label(drug.dispensing_unit), "package": unit_label(drug.package_unit),
    })
