"""How long does a chat message take from one browser to the other side of the visit, through the whole app?

A real uvicorn server (a child process) with the Redis channel layer, on a throwaway database: 100 visits
(100 patients, 10 doctors), 200 WebSocket clients (the patient and the doctor of each visit) connected at once
with the ``websockets`` library. Each client sends messages over its socket; the latency is the time from the
send to the moment the OTHER client of the same visit receives it (both clients live in this process, so one
clock). Each message goes the whole way: the consumer, ``services.post_message`` (scoping, audit rows, the task
that watches for unanswered patients, the insert), the commit, ``group_send`` through Redis, both sockets.

Baseline, in the same run: the raw channels-redis ``group_send`` → ``receive`` latency, no Django, no sockets:
100 groups of 2 channels, the same schedule. The ratio app/baseline is what the application adds.

Two phases for each: *burst* (every client sends one message at the same moment: the throughput ceiling),
then *paced* (a steady stream at half the app's burst rate, round-robin over the clients: the latency at a
load the server can carry; the baseline gets the same rate).

Run: ``.venv/bin/python bench/chat_latency.py``. Uses REDIS_URL (default redis://127.0.0.1:6379/14) and
DATABASE_URL (a fresh database is created beside the one named, and dropped; default SQLite in a temp dir).
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VISITS = int(os.environ.get("BENCH_VISITS", 100))
DOCTORS = 10
PACED_S = 12          # the steady phase lasts this long ...
MAX_RATE = 100.0      # ... at half the burst throughput, at most this many messages per second
PHASE_TIMEOUT_S = 25  # a phase that has not delivered everything by then is reported as such
CONNECT_TIMEOUT_S = 30
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples_ms), n=100)
    return {"p50": q[49], "p95": q[94], "p99": q[98], "mean": statistics.fmean(samples_ms)}


def _fmt(stats: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}ms" for k, v in stats.items())


# ---- the throwaway database ---------------------------------------------------------------------------------


def _loopback_only(url: str, what: str) -> None:
    host = urlsplit(url).hostname
    if host and host not in LOOPBACK:
        sys.exit(f"{what} must point at 127.0.0.1 for this benchmark (got {host})")


def _pg_admin(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(host=parts.hostname, port=parts.port, user=parts.username, password=parts.password,
                           dbname="postgres", autocommit=True)


def throwaway_database(var_dir: Path) -> tuple[str, str, Callable[[], None]]:
    """(url for the run, description, cleanup)."""
    source = os.environ.get("DATABASE_URL", "")
    if not source:
        return f"sqlite:///{var_dir / 'bench.sqlite3'}", "SQLite (WAL, temp dir; DATABASE_URL unset)", lambda: None
    _loopback_only(source, "DATABASE_URL")
    from psycopg import sql

    name = f"{(urlsplit(source).path.lstrip('/') or 'ihospital')}_bench_chat_{os.getpid()}"
    with _pg_admin(source) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop():
        with _pg_admin(source) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return urlunsplit(urlsplit(source)._replace(path="/" + name)), f"PostgreSQL (throwaway database {name})", drop


# ---- seeding (in this process) ---------------------------------------------------------------------------------


def seed() -> list[dict]:
    """100 visits in progress; returns, per visit, its id and the patient's and doctor's session keys.

    The doctors go through the services; the 100 patients, their in-person diagnoses and the visits are written
    in bulk (the same rows the services write, minus their audit trail), which keeps the set-up to seconds."""
    from datetime import date, timedelta

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.core.management import call_command
    from django.utils import timezone
    from django.utils.module_loading import import_string
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ihospital.accounts import services as accounts
    from ihospital.accounts.middleware import LAST_SEEN
    from ihospital.accounts.models import PatientProfile, Role, User
    from ihospital.directory import services as directory
    from ihospital.directory.models import Department, Facility, FacilityKind
    from ihospital.records.models import Condition, Encounter, EncounterMode, Verification
    from ihospital.visits.models import BasisStatus, ConsultationDay, Visit, VisitStatus

    # Passwords are never used here (sessions are made directly); argon2 would only slow the set-up.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    SessionStore = import_string(f"{settings.SESSION_ENGINE}.SessionStore")  # noqa: N806

    def session(user, device=None) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store[LAST_SEEN] = int(time.time()) + 3600
        if device is not None:
            store["otp_device_id"] = device.persistent_id
        store.create()
        return store.session_key

    facility = Facility.objects.create(code="bench", name_zh="基准医院", name_en="Bench hospital",
                                       kind=FacilityKind.HOME)
    department = Department.objects.create(facility=facility, code="cardiology", name_zh="心血管内科",
                                           name_en="Cardiology", offers_online_visits=True)
    now, today = timezone.now(), timezone.localdate()
    doctors = []
    for n in range(DOCTORS):
        user = accounts.create_staff(username=f"bench.dr{n}", real_name=f"医生{n:02d}", role=Role.DOCTOR,
                                     password="Bench-2026-x", employee_no=f"B{n:04d}")
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        practitioner = directory.register_practitioner(
            user=user, facility=facility, profession="doctor", licence_no=f"BENCH{n:05d}", title="chief",
            independent_practice_since=today.replace(year=today.year - 10), departments=[department],
        )
        ConsultationDay.objects.create(practitioner=practitioner, date=today, verified_at=now)
        doctors.append((user, practitioner, session(user, device)))

    users = User.objects.bulk_create(
        User(username=f"139{n:08d}", phone=f"+86139{n:08d}", real_name=f"患者{n:03d}", role=Role.PATIENT)
        for n in range(VISITS)
    )
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_update(users, ["password"])
    profiles = PatientProfile.objects.bulk_create(
        PatientProfile(user=user, resident_id=f"BENCH{n:013d}", birth_date=date(1960, 1, 1) + timedelta(days=97 * n),
                       sex="M" if n % 2 else "F", mrn=f"B{n:08d}")
        for n, user in enumerate(users)
    )
    encounters = Encounter.objects.bulk_create(
        Encounter(patient=profile, recorded_by=doctors[n % DOCTORS][0], mode=EncounterMode.IN_PERSON,
                  facility=facility, department=department, practitioner=doctors[n % DOCTORS][1],
                  started_at=now - timedelta(days=30), reason="高血压")
        for n, profile in enumerate(profiles)
    )
    conditions = Condition.objects.bulk_create(
        Condition(patient=e.patient, recorded_by=e.recorded_by, encounter=e, code="I10", display="原发性高血压",
                  verification=Verification.CONFIRMED, chronic=True)
        for e in encounters
    )
    visits = Visit.objects.bulk_create(
        Visit(patient=c.patient, requested_by=c.patient.user, department=department,
              doctor=doctors[n % DOCTORS][1], condition=c, basis_status=BasisStatus.ACCEPTED, complaint="复诊",
              status=VisitStatus.IN_PROGRESS, accepted_at=now, started_at=now)
        for n, c in enumerate(conditions)
    )
    return [
        {"visit_id": visit.pk, "patient": session(user), "doctor": doctors[n % DOCTORS][2]}
        for n, (visit, user) in enumerate(zip(visits, users, strict=True))
    ]


# ---- the server ------------------------------------------------------------------------------------------------


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "ihospital.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--lifespan", "off", "--log-level", "warning", "--ws-max-queue", "256"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited:\n{log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("the server did not become healthy in 30 s")


# ---- measuring: one schedule for the app and the baseline -----------------------------------------------------


class Meter:
    """Send times by key, and the latencies seen at the receiving end; ``done`` once all expected arrived."""

    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}
        self.samples: list[float] = []
        self.expected = 0
        self.done = asyncio.Event()
        self.last_arrival = 0.0

    def start(self, expected: int) -> None:
        # A message of an earlier phase that arrives late is not counted in this one.
        self.sent_at, self.samples, self.expected = {}, [], expected
        self.done.clear()

    def sending(self, key: str) -> None:
        self.sent_at[key] = time.perf_counter()

    async def quiet(self, seconds: float = 2.0, limit: float = 15.0) -> None:
        """Wait until nothing has arrived for ``seconds`` (a late phase drains before the next one starts)."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline and time.perf_counter() - self.last_arrival < seconds:
            await asyncio.sleep(0.2)

    def arrived(self, key: str) -> None:
        self.last_arrival = time.perf_counter()
        sent = self.sent_at.pop(key, None)
        if sent is None:
            return
        self.samples.append((time.perf_counter() - sent) * 1000)
        if len(self.samples) >= self.expected:
            self.done.set()

    def result(self, sent: int, seconds: float) -> dict:
        got = len(self.samples)
        return {"sent": sent, "delivered": got, "seconds": seconds, "rate": got / seconds if seconds else 0.0,
                "stats": _percentiles(self.samples) if got > 10 else None}


async def burst(meter: Meter, senders: list) -> dict:
    """Every sender sends one message at the same moment: how fast does everything arrive?"""
    meter.start(len(senders))
    start = time.perf_counter()
    await asyncio.gather(*(send() for send in senders))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(meter.done.wait(), PHASE_TIMEOUT_S)
    return meter.result(len(senders), time.perf_counter() - start)


async def paced(meter: Meter, senders: list, rate: float) -> dict:
    """Messages at a steady ``rate`` per second, round-robin over the senders, for PACED_S seconds."""
    total = max(20, int(rate * PACED_S))
    meter.start(total)
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        asyncio.ensure_future(senders[i % len(senders)]())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(meter.done.wait(), PHASE_TIMEOUT_S)
    return meter.result(total, time.perf_counter() - start)


# ---- the app: 200 WebSocket clients -------------------------------------------------------------------------------


async def run_app(port: int, visits: list[dict]) -> dict:
    import websockets
    from websockets.exceptions import ConnectionClosed

    meter = Meter()
    sockets: dict[tuple[int, str], object] = {}

    async def open_socket(visit_id: int, role: str, session: str) -> None:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/visits/{visit_id}/?after=999999999",
            additional_headers={"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{port}"},
            max_queue=None, open_timeout=CONNECT_TIMEOUT_S,
        )
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        sockets[(visit_id, role)] = ws

    async def reader(visit_id: int, role: str) -> None:
        other = "doctor" if role == "patient" else "patient"
        with contextlib.suppress(ConnectionClosed):
            async for raw in sockets[(visit_id, role)]:
                event = json.loads(raw)
                # Count only what the OTHER client of the visit sent (each socket also gets its own echo).
                if event.get("type") == "message" and event["message"]["client_id"].startswith(other + ":"):
                    meter.arrived(event["message"]["client_id"])

    def sender(visit_id: int, role: str):
        async def send() -> None:
            key = f"{role}:{uuid.uuid4().hex}"
            meter.sending(key)
            await sockets[(visit_id, role)].send(
                json.dumps({"type": "message", "body": "血压 135/85，心率 72。", "client_id": key})
            )

        return send

    ends = [(v["visit_id"], role, v[role]) for v in visits for role in ("patient", "doctor")]
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(open_socket(*end) for end in ends)), CONNECT_TIMEOUT_S * 2)
    results = {"connect_s": time.perf_counter() - start}
    readers = [asyncio.create_task(reader(visit_id, role)) for visit_id, role, _s in ends]
    senders = [sender(visit_id, role) for visit_id, role, _s in ends]
    results["burst"] = await burst(meter, senders)
    await meter.quiet()
    # The steady load: half of what the burst showed the server can take (at most MAX_RATE messages/s).
    results["rate"] = min(MAX_RATE, max(2.0, results["burst"]["rate"] / 2))
    results["paced"] = await paced(meter, senders, results["rate"])
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    return results


# ---- the baseline: raw channels-redis group_send -> receive --------------------------------------------------


async def run_baseline(redis_url: str, rate: float) -> dict:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[redis_url], prefix=f"bench-chat-{os.getpid()}", capacity=10_000)
    meter = Meter()
    ends: list[tuple[str, str]] = []  # (group, channel): 100 groups of 2, like the visits
    for n in range(VISITS):
        for _side in range(2):
            channel = await layer.new_channel()
            await layer.group_add(f"visit.{n}", channel)
            ends.append((f"visit.{n}", channel))

    async def reader(channel: str) -> None:
        while True:
            event = await layer.receive(channel)
            if event["from"] != channel:
                meter.arrived(event["key"])

    def sender(group: str, channel: str):
        async def send() -> None:
            key = uuid.uuid4().hex
            meter.sending(key)
            await layer.group_send(group, {"type": "chat.message", "key": key, "from": channel,
                                           "body": "血压 135/85，心率 72。"})

        return send

    readers = [asyncio.create_task(reader(channel)) for _group, channel in ends]
    senders = [sender(group, channel) for group, channel in ends]
    results = {"burst": await burst(meter, senders)}
    await meter.quiet()
    results["paced"] = await paced(meter, senders, rate)
    for task in readers:
        task.cancel()
    for group, channel in ends:
        await layer.group_discard(group, channel)
    await layer.close_pools()
    return results


# ---- main --------------------------------------------------------------------------------------------------------


def main() -> None:
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    redis_note = "REDIS_URL" if os.environ.get("REDIS_URL") else "REDIS_URL unset, default"
    _loopback_only(redis_url, "REDIS_URL")
    var_dir = Path(tempfile.mkdtemp(prefix="ihospital-bench-chat-"))
    database_url, database_note, drop_database = throwaway_database(var_dir)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ihospital.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "IHOSPITAL_VAR_DIR": str(var_dir),
        "IHOSPITAL_DEPLOYMENT": "embedded",
        "PYTHONPATH": str(ROOT / "src"),
        # A patient's message schedules the "unanswered" check as a task row; no worker runs here.
        "LOG_LEVEL": "ERROR",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    server = None
    try:
        started = time.perf_counter()
        visits = seed()
        seed_s = time.perf_counter() - started
        from django.db import connections

        connections.close_all()
        port = _free_port()
        server = start_server(env, port, var_dir / "server.log")
        app = asyncio.run(run_app(port, visits))
        base = asyncio.run(run_baseline(redis_url, app["rate"]))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        from django.db import connections

        connections.close_all()
        drop_database()

    clients = 2 * VISITS
    print(f"database: {database_note}; channel layer: channels-redis at {redis_url} ({redis_note}); "
          f"{os.cpu_count()} CPUs, one uvicorn process")
    print(f"set-up: {VISITS} visits in progress in {seed_s:.1f} s; {clients} sockets connected in "
          f"{app['connect_s']:.2f} s")
    for name, label in (("burst", f"burst: {clients} clients send 1 message at once"),
                        ("paced", f"paced: {app['rate']:.0f} msg/s for {PACED_S} s (half the app's burst rate)")):
        for who, result in (("app     ", app[name]), ("baseline", base[name])):
            stats = _fmt(result["stats"]) if result["stats"] else "n/a"
            missing = result["sent"] - result["delivered"]
            lost = f" ({missing} not there within {PHASE_TIMEOUT_S} s)" if missing else ""
            print(f"{label:<58} {who}: {result['delivered']}/{result['sent']}{lost} in {result['seconds']:.2f} s "
                  f"= {result['rate']:.0f} msg/s; {stats}")
    paced_app, paced_base = app["paced"]["stats"], base["paced"]["stats"]
    if not (paced_app and paced_base):
        sys.exit("chat_latency: not enough messages delivered to measure")
    print(
        f"chat_latency: send -> other side of the visit over {clients} sockets at {app['rate']:.0f} msg/s: "
        f"app p50 {paced_app['p50']:.1f} ms p99 {paced_app['p99']:.1f} ms vs raw channels-redis group_send "
        f"p50 {paced_base['p50']:.2f} ms p99 {paced_base['p99']:.2f} ms = ratio p50 "
        f"{paced_app['p50'] / paced_base['p50']:.1f}x p99 {paced_app['p99'] / paced_base['p99']:.1f}x; "
        f"app burst {app['burst']['rate']:.0f} msg/s vs {base['burst']['rate']:.0f} msg/s"
    )

if __name__ == "__main__":
    main()
