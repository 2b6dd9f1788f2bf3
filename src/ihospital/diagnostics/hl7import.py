"""Importing lab results from an HL7 v2 ORU^R01 message (what a laboratory information system or an interface engine
sends), answered with an ACK.

Parsing: ``hl7apy`` at the *tolerant* validation level, because real analysers and interface engines add Z-segments
and leave optional structure out; strict validation would refuse messages we can read perfectly well. On top of it
this module checks every field it uses (and names the segment and field when one is wrong: ``malformed_hl7``).
MLLP framing (``\\x0b`` … ``\\x1c\\x0d``) may be present or not, and segments may end with ``\\r``, ``\\n`` or
``\\r\\n``.

What is read: MSH-3/4 (sender), MSH-7 (time), MSH-9 (must be ORU^R01: ``not_oru``), MSH-10 (control id), MSH-12
(version); PID-3 (the identifier of type ``MR`` is our MRN, else the first one), PID-5 (name), PID-7 (birth date),
PID-8 (sex) — all must match the order's patient (``patient_mismatch``); per OBR, OBR-2 placer order number (or
ORC-2) is our ``DiagnosticOrder.number`` (``order_not_found``) and OBR-4 our test code or its LOINC
(``test_mismatch``); per OBX, OBX-2 value type (NM is a number, ST/TX/CE/CWE a text), OBX-3 our analyte code or its
LOINC (``unknown_analyte``), OBX-5 value, OBX-6 unit, OBX-7 the sender's reference range (ignored: we flag against our
own ranges), OBX-8 the sender's abnormal flag (compared with ours; a difference is noted in the report and the audit
row), OBX-11 result status (F final, C correction — a correction of a resulted order becomes a new version either
way), OBX-14 observation time (else MSH-7, else now; times without an offset are local time).

Everything is one transaction: one bad OBX imports nothing. Replays: the control id is unique per sender, so each
import records ``hl7_message`` = ``"<MSH-3>|<MSH-4>|<MSH-10>"`` in its audit row, and a message whose key is already in
the audit log is a ``duplicate_message`` (no model field is needed, and the audit log is never deleted). A duplicate is
answered ``AA`` (with "duplicate" in MSA-3) so the sender stops resending; nothing is imported twice.

The ACK (ACK^R01, v2.5): MSA-1 ``AA`` accepted, ``AR`` rejected for a message we cannot read or should not have
received (``malformed_hl7``, ``not_oru``), ``AE`` for an application error (unknown order, wrong patient, unknown
analyte, wrong state, bad value); MSA-2 echoes the control id; an ERR segment carries our code and message.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message, parse_segment

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent

from . import results
from .flags import flag
from .models import DiagnosticOrder, Observation

MLLP_START, MLLP_END = "\x0b", "\x1c"
TEXT_TYPES = {"ST", "TX", "FT", "CE", "CWE"}
ACCEPTED_STATUSES = {"F", "C"}
REJECT_CODES = {"malformed_hl7", "not_oru"}
_TS = re.compile(r"^(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


@dataclass
class ImportReport:
    """What happened: ``ok`` and the observations written, or the refusal ``code``/``message``/``location``; the
    sender's flag differences in ``notes``; ``ack`` is the ER7 ACK to answer the sender with."""

    ok: bool = False
    code: str = ""
    message: str = ""
    location: str = ""
    control_id: str = ""
    orders: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ack: str = ""


class Malformed(DomainError):
    def __init__(self, location: str, problem: str) -> None:
        super().__init__("malformed_hl7", _("The HL7 message is malformed at %(location)s: %(problem)s.") % {
            "location": location, "problem": problem})
        self.location = location


# ---- reading ------------------------------------------------------------------------------------------------------


def _text(message: str | bytes) -> str:
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("MSH", "the message is not UTF-8") from None
    message = message.strip().lstrip(MLLP_START)
    message = message.split(MLLP_END, 1)[0]
    segments = [s for s in re.split(r"\r\n|\r|\n", message) if s.strip()]
    if not segments or not segments[0].startswith("MSH"):
        raise Malformed("MSH", "the message does not start with an MSH segment")
    return "\r".join(segments) + "\r"


def _parse(text: str):
    try:
        return parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    except (HL7apyException, ValueError, IndexError, KeyError):
        pass
    # Name the first segment that does not parse on its own.
    lines = text.strip("\r").split("\r")
    try:
        parse_message(lines[0] + "\r", validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    except (HL7apyException, ValueError, IndexError, KeyError) as err:
        raise Malformed("MSH", f"the header cannot be read ({type(err).__name__})") from None
    version = lines[0].split(lines[0][3])[11].split(lines[0][4])[0] if len(lines[0].split(lines[0][3])) > 11 else ""
    for n, line in enumerate(lines[1:], start=2):
        try:
            parse_segment(line, version=version or None, validation_level=VALIDATION_LEVEL.TOLERANT)
        except (HL7apyException, ValueError, IndexError, KeyError) as err:
            raise Malformed(f"segment {n} ({line[:3]})", f"it cannot be read ({type(err).__name__})") from None
    raise Malformed("MSH", "the message cannot be read")


class _Reader:
    """Field access by number on parsed segments, unescaped, split into components."""

    def __init__(self, msg) -> None:
        enc = msg.encoding_chars
        self.comp, self.rep = enc["COMPONENT"], enc["REPETITION"]
        self.esc, self.sub = enc["ESCAPE"], enc["SUBCOMPONENT"]
        self.field_sep = enc["FIELD"]

    def reps(self, seg, n: int) -> list[str]:
        try:
            proxy = getattr(seg, f"{seg.name.lower()}_{n}")
        except HL7apyException:
            return []
        return [f.to_er7() for f in proxy]

    def raw(self, seg, n: int) -> str:
        reps = self.reps(seg, n)
        return reps[0] if reps else ""

    def comps(self, seg, n: int) -> list[str]:
        return [self.unescape(c) for c in self.raw(seg, n).split(self.comp)]

    def value(self, seg, n: int, component: int = 1) -> str:
        parts = self.comps(seg, n)
        return parts[component - 1].strip() if len(parts) >= component else ""

    def unescape(self, text: str) -> str:
        e = self.esc
        for code, char in (("F", self.field_sep), ("S", self.comp), ("T", self.sub), ("R", self.rep)):
            text = text.replace(f"{e}{code}{e}", char)
        return text.replace(f"{e}E{e}", e)


def _timestamp(text: str, location: str) -> datetime | None:
    if not text:
        return None
    m = _TS.match(text)
    if not m:
        raise Malformed(location, "not an HL7 timestamp")
    date, hh, mm, ss, offset = m.groups()
    try:
        naive = datetime.strptime(date + (hh or "00") + (mm or "00") + (ss or "00"), "%Y%m%d%H%M%S")
    except ValueError:
        raise Malformed(location, "not a valid date") from None
    if offset:
        return datetime.strptime(naive.strftime("%Y%m%d%H%M%S") + offset, "%Y%m%d%H%M%S%z")
    return timezone.make_aware(naive)


# ---- the ACK -------------------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    text = text.replace("\\", "\\E\\")
    for char, code in (("|", "F"), ("^", "S"), ("&", "T"), ("~", "R")):
        text = text.replace(char, f"\\{code}\\")
    return text.replace("\r", " ").replace("\n", " ")


def build_ack(*, control_id: str, ack_code: str, text: str = "", error_code: str = "", sender_app: str = "",
              sender_facility: str = "", version: str = "2.5") -> str:
    """An ACK^R01 in ER7 (segments ended by ``\\r``) addressed back to the sender."""
    now = timezone.localtime().strftime("%Y%m%d%H%M%S")
    msh = (f"MSH|^~\\&|IHOSPITAL|IHOSPITAL|{_escape(sender_app)}|{_escape(sender_facility)}|{now}||ACK^R01^ACK|"
           f"{uuid.uuid4().hex[:20]}|P|{_escape(version or '2.5')}")
    segments = [msh, f"MSA|{ack_code}|{_escape(control_id)}|{_escape(text[:80])}"]
    if error_code:
        segments.append(f"ERR|||207^Application internal error^HL70357|E||||{_escape(f'{error_code}: {text}')}")
    return "\r".join(segments) + "\r"


# ---- the import ----------------------------------------------------------------------------------------------------


@dataclass
class _Group:
    number: str
    service: list[str]
    obx: list = field(default_factory=list)


def _patient_matches(order: DiagnosticOrder, r: _Reader, pid) -> bool:
    patient = order.patient
    ids = [[r.unescape(c) for c in rep.split(r.comp)] for rep in r.reps(pid, 3)]
    mrns = [i[0] for i in ids if len(i) >= 5 and i[4] == "MR"] or [i[0] for i in ids[:1]]
    if patient.mrn not in mrns:
        return False
    family_given = r.comps(pid, 5)[:2]
    names = {"".join(family_given), "".join(reversed(family_given))}  # 张^伟 → 张伟; Smith^John → JohnSmith
    if patient.real_name.replace(" ", "").casefold() not in {n.replace(" ", "").casefold() for n in names}:
        return False
    if r.value(pid, 7)[:8] != patient.birth_date.strftime("%Y%m%d"):
        return False
    sex = r.value(pid, 8)
    return not (sex in ("M", "F") and sex != patient.sex)


def _read_groups(msg, r: _Reader) -> tuple[object, list[_Group]]:
    pid, groups, orc_number = None, [], ""
    for n, seg in enumerate(msg.children, start=1):
        name = seg.name
        if name == "PID":
            pid = seg
        elif name == "ORC":
            orc_number = r.value(seg, 2)
        elif name == "OBR":
            number = r.value(seg, 2) or orc_number
            if not number:
                raise Malformed(f"segment {n} (OBR)", "OBR-2 (placer order number) is empty")
            groups.append(_Group(number=number, service=[c.strip() for c in r.comps(seg, 4)]))
            orc_number = ""
        elif name == "OBX":
            if not groups:
                raise Malformed(f"segment {n} (OBX)", "an OBX comes before any OBR")
            groups[-1].obx.append((n, seg))
    if pid is None:
        raise Malformed("PID", "the message has no PID segment")
    if not groups:
        raise Malformed("OBR", "the message has no OBR segment")
    return pid, groups


def _entry(analytes, r: _Reader, n: int, seg, default_time: datetime | None, now: datetime):
    where = f"segment {n} (OBX)"
    set_id = r.value(seg, 1)
    if set_id and not set_id.isdigit():
        raise Malformed(f"{where} OBX-1", "the set id is not a number")
    value_type = r.value(seg, 2)
    if value_type not in TEXT_TYPES | {"NM"}:
        raise Malformed(f"{where} OBX-2", f"value type {value_type or '(empty)'} is not supported")
    ident = r.comps(seg, 3)
    if not ident[0].strip():
        raise Malformed(f"{where} OBX-3", "the observation identifier is empty")
    codes = [ident[0].strip()] + ([ident[3].strip()] if len(ident) > 3 and ident[3].strip() else [])
    code = next((c for c in codes if c in analytes), codes[0])
    status = r.value(seg, 11)
    if status not in ACCEPTED_STATUSES:
        raise Malformed(f"{where} OBX-11", f"result status {status or '(empty)'} is not F or C")
    raw = r.unescape(r.raw(seg, 5)).strip()
    if not raw:
        raise Malformed(f"{where} OBX-5", "the value is empty")
    item = {"analyte": code, "unit": r.value(seg, 6),
            "observed_at": _timestamp(r.value(seg, 14), f"{where} OBX-14") or default_time or now}
    if value_type == "NM":
        try:
            item["value"] = results.parse_decimal(raw)
        except DomainError:
            raise Malformed(f"{where} OBX-5", f"{raw[:20]!r} is not a number") from None
    else:
        item["text"] = raw.split(r.comp)[1] if value_type in ("CE", "CWE") and r.comp in raw else raw
    try:
        entry = results.parse_entry(analytes, item, now=now)
    except DomainError as err:
        err.location = f"{where} OBX-3" if err.code == "unknown_analyte" else f"{where}"
        raise
    return entry, r.value(seg, 8)


def import_oru(*, actor, message: str | bytes) -> ImportReport:
    """Import one ORU^R01 message as the lab technician ``actor``. Never raises for a bad message: the report says
    what was refused, and carries the ACK."""
    results.check_technician(actor)
    report = ImportReport()
    sender = ("", "", "2.5")
    try:
        msg = _parse(_text(message))
        r = _Reader(msg)
        msh = msg.msh
        sender = (r.value(msh, 3), r.value(msh, 4), r.value(msh, 12) or "2.5")
        report.control_id = r.value(msh, 10)
        kind = r.comps(msh, 9)
        if kind[:2] != ["ORU", "R01"]:
            raise DomainError("not_oru", _("This is a %(kind)s message, not ORU^R01.") % {
                "kind": "^".join(kind[:2]) or "?"})
        if not report.control_id:
            raise Malformed("MSH-10", "the message control id is empty")
        sent_at = _timestamp(r.value(msh, 7), "MSH-7")
        key = f"{sender[0]}|{sender[1]}|{report.control_id}"
        pid, groups = _read_groups(msg, r)
        now = timezone.now()
        with transaction.atomic():
            # Lock the orders first (in a fixed order), then look for a replay: a concurrent copy of this message
            # waits on the locks and then sees the first one's audit row.
            locked = {n: results.locked_order(number=n) for n in sorted({g.number for g in groups})}
            if AuditEvent.objects.filter(detail__hl7_message=key).exists():
                raise DomainError("duplicate_message", _("This message was already imported."))
            for group in groups:
                order = locked[group.number]
                if not _patient_matches(order, r, pid):
                    raise DomainError("patient_mismatch", _("The patient in the message is not the order's patient."))
                if not ({order.test.code, order.test.loinc} - {""}) & {c for c in group.service if c}:
                    raise DomainError("test_mismatch", _("The message reports a different test than the order."))
                results.check_resultable(order)
                analytes = results.analytes_of(order)
                pairs = [_entry(analytes, r, n, seg, sent_at, now) for n, seg in group.obx]
                entries = [e for e, _theirs in pairs]
                age_on = order.patient.age
                mismatches = []
                for e, theirs in pairs:
                    ours, _ref = flag(e.analyte, e.value, e.text, sex=order.patient.sex,
                                      age=age_on(timezone.localdate(e.observed_at)))
                    theirs = (theirs or "N").upper()
                    if theirs != ours:
                        mismatches.append(f"{order.number}/{e.analyte.code}: sender {theirs}, ours {ours}")
                observations = results.store(actor=actor, order=order, entries=entries, source="hl7", detail={
                    "hl7_message": key, "hl7_flag_mismatches": mismatches})
                report.notes.extend(mismatches)
                report.orders.append(order.number)
                report.observations.extend(observations)
    except HL7apyException as err:  # a field hl7apy cannot split (after the tolerant parse): still the sender's fault
        return import_failed(report, Malformed("message", f"a field cannot be read ({type(err).__name__})"), sender)
    except DomainError as err:
        return import_failed(report, err, sender)
    report.ok = True
    report.ack = build_ack(control_id=report.control_id, ack_code="AA", text="", sender_app=sender[0],
                           sender_facility=sender[1], version=sender[2])
    return report


def import_failed(report: ImportReport, err: DomainError, sender: tuple[str, str, str]) -> ImportReport:
    """The report of a refused message (nothing imported), with the ACK that says why."""
    report.observations, report.orders, report.notes = [], [], []
    report.code, report.message = err.code, str(err.message)
    report.location = getattr(err, "location", "")
    if err.code == "duplicate_message":
        report.ack = build_ack(control_id=report.control_id, ack_code="AA", text="duplicate message, already "
                               "imported", sender_app=sender[0], sender_facility=sender[1], version=sender[2])
    else:
        report.ack = build_ack(control_id=report.control_id,
                               ack_code="AR" if err.code in REJECT_CODES else "AE",
                               text=report.message, error_code=err.code, sender_app=sender[0],
                               sender_facility=sender[1], version=sender[2])
    return report

