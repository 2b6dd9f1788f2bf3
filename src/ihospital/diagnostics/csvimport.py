"""Importing lab results from a CSV file (an analyser's export, or a spreadsheet).

The header is exactly ``order_number,analyte,value,unit,observed_at`` (any order of columns is not accepted: a file
with another layout is someone else's export); UTF-8 with or without a BOM. ``analyte`` is our analyte code or its
LOINC; ``value`` a number, or a text for a text analyte (one without a unit: "阴性", "2+"); ``unit`` may be blank
(else it must be the analyte's); ``observed_at`` ISO 8601 (``2026-03-10 09:20`` or with an offset; blank: now; times
without an offset are local time).

The whole file is checked before anything is written — every row, every order — and one bad row refuses the whole
file (``invalid_csv``, with the problems by row number in ``fields``; the header is row 1). Then each order's rows are
stored as one entry (``results.store``: flags, versions, the move to "resulted", critical alerts), all in one
transaction.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

from . import results
from .models import Observation

HEADER = ["order_number", "analyte", "value", "unit", "observed_at"]
MAX_ROWS = 5000


@dataclass
class CsvReport:
    orders: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)


def _text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DomainError("invalid_csv", _("The file is not UTF-8 text.")) from None
    return data.removeprefix("\ufeff")


def _observed_at(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError("invalid_observed_at", _("%(text)s is not a date and time (2026-03-10 09:20).") % {
            "text": text[:32]}) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _rows(text: str) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        if [h.strip().lower() for h in header] != HEADER:
            raise DomainError("bad_header", _("The first line must be: %(header)s.") % {"header": ",".join(HEADER)})
        rows = []
        for line in reader:
            if not any(cell.strip() for cell in line):
                continue
            if len(line) != len(HEADER):
                rows.append((reader.line_num, None))
            else:
                rows.append((reader.line_num, {k: v.strip() for k, v in zip(HEADER, line, strict=True)}))
            if len(rows) > MAX_ROWS:
                raise DomainError("too_many_rows", _("A file may have at most %(max)d rows.") % {"max": MAX_ROWS})
    except csv.Error:
        raise DomainError("invalid_csv", _("The file is not valid CSV.")) from None
    if not rows:
        raise DomainError("no_values", _("The file has no results."))
    return rows


def _item(analytes, row: dict, now: datetime) -> dict:
    item = {"analyte": row["analyte"], "unit": row["unit"], "observed_at": _observed_at(row["observed_at"]) or now}
    analyte = analytes.get(row["analyte"])
    if analyte is not None and not analyte.unit:
        try:
            item["value"] = results.parse_decimal(row["value"])
        except DomainError:
            item["text"] = row["value"]
    else:
        item["value"] = row["value"]
    return item


def import_csv(*, actor, data: str | bytes) -> CsvReport:
    """Import a results file as the lab technician ``actor``: all of it, or nothing (``invalid_csv``)."""
    results.check_technician(actor)
    rows = _rows(_text(data))
    errors: dict[str, str] = {}

    def fail(n: int, err: DomainError) -> None:
        errors.setdefault(f"row {n}", f"{err.code}: {err.message}")

    groups: dict[str, list[tuple[int, dict]]] = {}
    for n, row in rows:
        if row is None:
            fail(n, DomainError("invalid_csv", _("This row does not have five columns.")))
        else:
            groups.setdefault(row["order_number"], []).append((n, row))

    report = CsvReport()
    now = timezone.now()
    with transaction.atomic():
        checked = []
        for number, group in groups.items():
            try:
                order = results.locked_order(number=number)
                results.check_resultable(order)
            except DomainError as err:
                for n, _row in group:
                    fail(n, err)
                continue
            analytes = results.analytes_of(order)
            entries, seen = [], set()
            for n, row in group:
                try:
                    entry = results.parse_entry(analytes, _item(analytes, row, now), now=now)
                except DomainError as err:
                    fail(n, err)
                    continue
                if entry.analyte.pk in seen:
                    fail(n, DomainError("duplicate_analyte", _("This analyte is already given for this order.")))
                seen.add(entry.analyte.pk)
                entries.append(entry)
            checked.append((order, entries))
        if errors:
            raise DomainError("invalid_csv", _("The file was not imported: %(count)d rows have problems.") % {
                "count": len(errors)}, fields=errors)
        for order, entries in checked:
            report.observations.extend(results.store(actor=actor, order=order, entries=entries, source="csv",
                                                     detail={"csv_rows": len(entries)}))
            report.orders.append(order.number)
    return report
