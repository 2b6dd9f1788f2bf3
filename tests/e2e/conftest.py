"""Browser journeys: Playwright drives Debian's chromium against a real uvicorn server.

Not Django's ``live_server``: that one is WSGI and cannot carry the WebSockets that visits need. The server
runs in a child process on its own database (a separate PostgreSQL database when DATABASE_URL points at
PostgreSQL, otherwise an SQLite file), so nothing here touches the ORM or pytest-django's test database.

    def test_home(e2e_server, phone_page):
        e2e_server.manage("seed_demo")          # setup runs against the server's own database
        phone_page.goto(e2e_server.url + "/")
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

E2E_DIR = Path(__file__).resolve().parent
PROJECT_DIR = E2E_DIR.parents[1]
MANAGE_PY = PROJECT_DIR / "manage.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine's network is closed: without these chromium keeps dialling out and logging refusals.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # getUserMedia without a prompt and without a camera: video visits work headless.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
STARTUP_TIMEOUT = 30.0
MANAGE_TIMEOUT = 300.0
# Settings of the e2e server (and of manage() and the task worker) that differ from the embedded default: a
# journey watches the whole courier timeline in seconds, not minutes.
E2E_ENV = {
    "COURIER_SIM_STEP_SECONDS": "1",
}


@pytest.hookimpl(
    tryfirst=True
)  # before pytest's own -m filtering, so `-m e2e` / `-m "not e2e"` see the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item, not only this folder's: pick ours by path.
    e2e, others = [], []
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)
            e2e.append(item)
        else:
            others.append(item)
    # Browser journeys run last. Playwright's sync API keeps an asyncio loop marked as running in this thread
    # while the session-scoped browser is open, and Django then refuses ORM calls (SynchronousOnlyOperation)
    # in any ordinary database test that would run after it.
    items[:] = others + e2e


# --- the server ---------------------------------------------------------------------------------------------


@dataclass
class E2EServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    # The environment of the server and of manage(); out of repr, which lands in test reports.
    env: dict[str, str] = field(repr=False)
    var_dir: Path
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def manage(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``manage.py <args>`` against the server's database; output is captured and returned."""
        result = subprocess.run(
            [sys.executable, str(MANAGE_PY), *args],
            cwd=PROJECT_DIR,
            env={**self.env, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=MANAGE_TIMEOUT,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed with code {result.returncode}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The local WeChat (``ihospital.wechat.simulator``) that tests/e2e/test_wechat_journey.py starts listens on this
# port; the server, manage() and the task worker find WeChat's API and OAuth pages there. The other journeys never
# call WeChat (none of their users has a bound WeChat identity), so nothing needs to listen there for them.
WECHAT_SIMULATOR_PORT = _free_port()


def _is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "pgsql", "postgis"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_connect(url: str):
    """An autocommit psycopg connection to the maintenance database of the server that ``url`` names."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or None,
        port=parts.port or None,
        user=parts.username or None,
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


def _create_postgres_database(url: str, name: str) -> None:
    from psycopg import sql

    with _admin_connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_postgres_database(url: str, name: str) -> None:
    from psycopg import sql

    with _admin_connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _wait_for_health(server: E2EServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(
                f"the e2e server exited with code {server.process.returncode}\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"the e2e server did not answer /healthz with 200 in {STARTUP_TIMEOUT:.0f}s ({last})\n"
        + server.log_tail()
    )


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EServer]:
    """A uvicorn server on a free port with a freshly migrated database of its own."""
    var_dir = tmp_path_factory.mktemp("e2e")
    port = _free_port()

    source_url = os.environ.get("DATABASE_URL", "")
    pg_name = None
    if source_url and _is_postgres(source_url):
        base = urlsplit(source_url).path.lstrip("/") or "ihospital"
        pg_name = f"{base}_e2e_{os.getpid()}"
        _create_postgres_database(source_url, pg_name)
        database_url = _with_database(source_url, pg_name)
    else:
        database_url = f"sqlite:///{var_dir / 'e2e.sqlite3'}"

    env = {
        **os.environ,  # REDIS_URL and TASKS_BACKEND pass through as they are
        "DJANGO_SETTINGS_MODULE": "ihospital.settings",
        "DATABASE_URL": database_url,
        "IHOSPITAL_VAR_DIR": str(var_dir),
        # The browser talks plain HTTP to 127.0.0.1; production settings would redirect it to HTTPS.
        "IHOSPITAL_DEPLOYMENT": "embedded",
        "PYTHONUNBUFFERED": "1",
        **E2E_ENV,
        "WECHAT_API_BASE": f"http://127.0.0.1:{WECHAT_SIMULATOR_PORT}",
        "WECHAT_OAUTH_BASE": f"http://127.0.0.1:{WECHAT_SIMULATOR_PORT}",
        # Where providers' callbacks (the payment sandbox) reach this server.
        "SITE_URL": f"http://127.0.0.1:{port}",
    }
    server = E2EServer(
        url=f"http://127.0.0.1:{port}", env=env, var_dir=var_dir, log_path=var_dir / "server.log"
    )
    log = None
    try:
        server.manage("migrate", "--noinput")
        log = server.log_path.open("wb")
        server.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "uvicorn", "ihospital.asgi:application",
             "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"],
            cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for_health(server)
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
        if log is not None:
            log.close()
        if pg_name is not None:
            _drop_postgres_database(source_url, pg_name)


@pytest.fixture(scope="module")
def task_worker(e2e_server: E2EServer) -> Iterator[subprocess.Popen]:
    """A task worker (django-tasks-db's ``db_worker``) beside the e2e server, for the journeys whose story goes
    through tasks: the payment sandbox's callbacks and the courier simulator's tracking events are tasks that POST
    to the server over HTTP (``SITE_URL``), as the providers do. Runs for one test module, then stops, so the
    other journeys keep their tasks unrun as before. Its output goes to worker.log beside the server's log."""
    log = (e2e_server.var_dir / "worker.log").open("ab")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(MANAGE_PY), "db_worker", "--no-reload", "--interval", "0.2", "--no-startup-delay"],
        cwd=PROJECT_DIR, env=e2e_server.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"the task worker exited with code {process.returncode}; see {log.name}")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # one SIGTERM: db_worker finishes the task it runs, then stops
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


# --- the browser --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium (never a Playwright-downloaded browser: `playwright install` is not used)."""
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phone_page(browser):
    """A page in a fresh context that looks like a phone: 375x740 CSS pixels, touch, zh-CN."""
    context = browser.new_context(
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    try:
        yield context.new_page()
    finally:
        context.close()


DESKTOP = dict(viewport={"width": 1366, "height": 900}, locale="en-GB")


@pytest.fixture
def desk(browser, e2e_server):
    """Opens desktop pages already signed in: ``desk(session_key)`` → a page whose context carries that session
    (seeding scripts create staff sessions with the second factor done, so journeys skip the login pages)."""
    contexts = []

    def open_page(session: str):
        context = browser.new_context(**DESKTOP)
        context.add_cookies([{"name": "sessionid", "value": session, "url": e2e_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
