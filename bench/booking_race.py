"""What does booking through ``scheduling.services.book_slot`` cost when 50 clients race for the same slots?

50 threads, each with its own PostgreSQL connection, book random slots among 200 slots of capacity 5 (1,000
places) for distinct patients until every place is taken; a client that hears ``slot_full`` drops that slot.
Measured: successful bookings per second and the latency of each call (successful or refused).

Baseline, in the same run on the same database and with the same concurrency: the bare booking transaction in
SQL through psycopg (``BEGIN``; the conditional ``UPDATE`` of the slot; ``INSERT`` the appointment;
``COMMIT``), without scoping, consent check, overlap check or audit row. Rounds alternate app, SQL, app, SQL.

Needs PostgreSQL (SQLite has one writer; there is no race to measure): run with
``DATABASE_URL=postgres://... .venv/bin/python bench/booking_race.py``. Without it, it says so and exits 0.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import deque
from datetime import timedelta

if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
    print("booking_race: needs PostgreSQL (set DATABASE_URL=postgres://...); skipped")
    sys.exit(0)

import _django  # noqa: E402

_django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from ihospital.accounts.models import CONSENT_VERSIONS, Consent, ConsentKind, PatientProfile, Role, User  # noqa: E402
from ihospital.core.audit import verify_chain  # noqa: E402
from ihospital.core.errors import DomainError  # noqa: E402
from ihospital.directory.models import Department, Facility, Practitioner, Profession, Title  # noqa: E402
from ihospital.scheduling import services  # noqa: E402
from ihospital.scheduling.models import Appointment, Slot  # noqa: E402

CLIENTS = 50
SLOTS = 200
CAPACITY = 5
ROUNDS = 2  # per side, alternating
SOLO = 300  # bookings by a single client, for the uncontended cost
PLACES = SLOTS * CAPACITY

_serial = 0


def make_doctor() -> tuple[Practitioner, Department]:
    facility, _ = Facility.objects.get_or_create(code="home", defaults={"kind": "home", "name_zh": "本院",
                                                                       "name_en": "Home"})
    department = Department.objects.create(facility=facility, code="bench", name_zh="心内科", name_en="Cardiology",
                                           offers_online_visits=True)
    user = User.objects.create(username="bench-doctor", real_name="医生", role=Role.DOCTOR)
    doctor = Practitioner.objects.create(
        user=user, facility=facility, profession=Profession.DOCTOR, licence_no="BENCH1", title=Title.ATTENDING,
        independent_practice_since=timezone.localdate().replace(year=timezone.localdate().year - 10),
        verified_at=timezone.now(),
    )
    doctor.departments.add(department)
    return doctor, department


def make_patients(n: int) -> list[PatientProfile]:
    """Many real-name patients quickly: rows in bulk, no password hashing (nobody signs in)."""
    global _serial
    first = _serial
    _serial += n
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", phone=f"+8613{i:09d}", real_name=f"患者{i}", role=Role.PATIENT, password="!")
         for i in range(first, first + n)]
    )
    patients = PatientProfile.objects.bulk_create(
        [PatientProfile(user=u, resident_id=f"B{i:017d}", birth_date="1960-01-01", sex="F", mrn=f"B{i:09d}")
         for i, u in zip(range(first, first + n), users, strict=True)]
    )
    Consent.objects.bulk_create(
        [Consent(patient=p, kind=ConsentKind.HEALTH_DATA, version=CONSENT_VERSIONS[ConsentKind.HEALTH_DATA],
                 given_by=p.user) for p in patients]
    )
    return patients


def make_slots(doctor, department, offset_days: int) -> list[int]:
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=offset_days)
    slots = Slot.objects.bulk_create(
        [Slot(practitioner=doctor, department=department, starts_at=start + timedelta(minutes=30 * i),
              ends_at=start + timedelta(minutes=30 * i + 30), mode="text", capacity=CAPACITY)
         for i in range(SLOTS)]
    )
    return [s.pk for s in slots]


def race(slot_ids: list[int], patients: list[PatientProfile], book) -> tuple[float, int, list[float], list[str]]:
    """Run CLIENTS threads until every place is taken. Returns (seconds, bookings, latencies ms, crashes)."""
    pool = deque(patients)  # popleft is atomic: every booking gets a patient of its own
    barrier = threading.Barrier(CLIENTS + 1)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    successes = [0] * CLIENTS
    crashes: list[str] = []
    full: set[int] = set()  # shared knowledge of full slots, like a client refreshing its list

    def client(i: int) -> None:
        rng = random.Random(i)
        patient = pool.popleft()
        session = book.session()
        try:
            barrier.wait()
            while True:
                open_ids = [s for s in slot_ids if s not in full]
                if not open_ids:
                    return
                slot_id = rng.choice(open_ids)
                t0 = time.perf_counter()
                try:
                    ok = book(session, patient, slot_id)
                except Exception as exc:  # noqa: BLE001 - reported as a crash
                    crashes.append(repr(exc))
                    return
                latencies[i].append((time.perf_counter() - t0) * 1000)
                if ok:
                    successes[i] += 1
                    patient = pool.popleft()
                else:
                    full.add(slot_id)
        finally:
            book.close(session)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - t0
    return seconds, sum(successes), [x for row in latencies for x in row], crashes


class AppBooking:
    """``services.book_slot`` as the API calls it (each thread has its own Django connection)."""

    @staticmethod
    def session():
        return None

    @staticmethod
    def close(_session) -> None:
        connection.close()

    def __call__(self, _session, patient: PatientProfile, slot_id: int) -> bool:
        try:
            services.book_slot(actor=patient.user, patient_id=patient.pk, slot_id=slot_id)
            return True
        except DomainError as exc:
            if exc.code != "slot_full":
                raise
            return False


class SqlBooking:
    """The bare transaction in SQL, one psycopg connection per thread."""

    def __init__(self) -> None:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.params = params

    def session(self):
        return psycopg.connect(**self.params, autocommit=False)

    @staticmethod
    def close(session) -> None:
        session.close()

    def __call__(self, session, patient: PatientProfile, slot_id: int) -> bool:
        with session.cursor() as cur:
            cur.execute(
                "UPDATE scheduling_slot SET booked = booked + 1 "
                "WHERE id = %s AND status = 'open' AND booked < capacity AND starts_at > now()",
                (slot_id,),
            )
            if cur.rowcount != 1:
                session.rollback()
                return False
            cur.execute(
                "INSERT INTO scheduling_appointment (slot_id, patient_id, booked_by_id, status, created_at, "
                "cancelled_reason, reschedule_count) VALUES (%s, %s, %s, 'booked', now(), '', 0)",
                (slot_id, patient.pk, patient.user_id),
            )
        session.commit()
        return True


def check(slot_ids: list[int]) -> None:
    booked = sum(Slot.objects.filter(pk__in=slot_ids).values_list("booked", flat=True))
    appointments = Appointment.objects.filter(slot_id__in=slot_ids, status="booked").count()
    assert booked == appointments == PLACES, (booked, appointments)


def main() -> None:
    doctor, department = make_doctor()
    runs = {"app": AppBooking(), "sql": SqlBooking()}
    results: dict[str, dict[str, list]] = {name: {"seconds": [], "booked": [], "lat": []} for name in runs}
    # One warm-up round each, then ROUNDS measured rounds each, alternating; every round on fresh slots.
    for number, name in enumerate(["app", "sql"] * (ROUNDS + 1)):
        slot_ids = make_slots(doctor, department, 5 * number + 1)  # 200 half-hours: 4+ days
        patients = make_patients(PLACES + CLIENTS)
        seconds, booked, latencies, crashes = race(slot_ids, patients, runs[name])
        assert not crashes, crashes[:3]
        check(slot_ids)
        if number >= 2:
            results[name]["seconds"].append(seconds)
            results[name]["booked"].append(booked)
            results[name]["lat"].extend(latencies)
    # Uncontended: one client, so the cost of a booking shows apart from the waiting.
    alone = {}
    for number, (name, book) in enumerate(runs.items()):
        slot_ids = make_slots(doctor, department, 5 * (2 * ROUNDS + 2 + number) + 1)
        patients = make_patients(SOLO + SOLO // 10)
        session = book.session()
        samples = []
        for i, patient in enumerate(patients):
            t0 = time.perf_counter()
            assert book(session, patient, slot_ids[i % SLOTS])
            samples.append((time.perf_counter() - t0) * 1000)
        if name == "sql":
            book.close(session)
        alone[name] = _django.percentiles(samples[SOLO // 10:])
    assert verify_chain().ok

    print(f"database: {connection.vendor}, {os.cpu_count()} CPUs; {CLIENTS} clients, {SLOTS} slots x capacity "
          f"{CAPACITY} = {PLACES} places per round, {ROUNDS} rounds each (after one warm-up round each)")
    summary = {}
    for name, label in (("sql", "baseline SQL (psycopg)     "), ("app", "book_slot (scoped, audited)")):
        r = results[name]
        rate = sum(r["booked"]) / sum(r["seconds"])
        stats = _django.percentiles(r["lat"])
        summary[name] = (rate, stats)
        print(f"{label}: {rate:7.0f} bookings/s; {len(r['lat'])} calls: {_django.fmt(stats)}")
        print(f"{label}  one client alone, {SOLO} bookings: {_django.fmt(alone[name])}")
    (app_rate, app), (sql_rate, sql) = summary["app"], summary["sql"]
    print(
        f"booking_race: {app_rate:.0f} bookings/s = {app_rate / sql_rate:.2f}x the bare SQL ({sql_rate:.0f}/s); "
        f"p50 {app['p50']:.1f} ms ({app['p50'] / sql['p50']:.1f}x), p99 {app['p99']:.1f} ms "
        f"({app['p99'] / sql['p99']:.1f}x); no overbooking"
    )


if __name__ == "__main__":
    main()
