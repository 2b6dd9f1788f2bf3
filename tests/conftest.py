"""Shared pytest configuration for the whole suite."""

from __future__ import annotations

import os

import pytest

# ==========================================================================================================
# CI requirements: `e2e` and `postgres` markers (markers are declared in pyproject.toml)
#
# * A test marked `postgres` is skipped when the database is not PostgreSQL, unless
#   IHOSPITAL_REQUIRE_POSTGRES=1: then running the suite on another database is a usage error.
# * With IHOSPITAL_REQUIRE_E2E=1 a skipped `e2e` test (chromium missing, say) is reported as failed, and with
#   IHOSPITAL_REQUIRE_POSTGRES=1 so is a skipped `postgres` test. CI sets both, so a green run cannot hide a
#   journey that never ran.
# * Tests marked `postgres` carry the junit property marker=postgres, so .ci/run can check that some ran.
# ==========================================================================================================

REQUIRE_E2E_ENV = "IHOSPITAL_REQUIRE_E2E"
REQUIRE_POSTGRES_ENV = "IHOSPITAL_REQUIRE_POSTGRES"


def _required(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _database_is_postgres() -> bool:
    # Reads settings only (no connection, no ORM): safe before pytest-django has set up any database.
    from django.conf import settings

    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


def pytest_configure(config: pytest.Config) -> None:
    if _required(REQUIRE_POSTGRES_ENV) and not _database_is_postgres():
        raise pytest.UsageError(
            f"{REQUIRE_POSTGRES_ENV}=1 but the database is not PostgreSQL: set DATABASE_URL=postgres://..."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = _database_is_postgres()
    for item in items:
        if item.get_closest_marker("postgres") is None:
            continue
        item.user_properties.append(("marker", "postgres"))
        if not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if not report.skipped or hasattr(report, "wasxfail"):
        return report
    required = [
        f"{env}=1"
        for marker, env in (("e2e", REQUIRE_E2E_ENV), ("postgres", REQUIRE_POSTGRES_ENV))
        if item.get_closest_marker(marker) is not None and _required(env)
    ]
    if required:
        # A skip report's longrepr is (path, lineno, reason).
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but {' and '.join(required)} requires it to run: {reason}"
    return report


# ==========================================================================================================
# End of CI requirements. Shared fixtures go below.
# ==========================================================================================================

# ---- unit and API test fixtures (tests/core, accounts, directory, records, api) ---------------------------


@pytest.fixture(autouse=True)
def _unit_test_settings(request: pytest.FixtureRequest):
    """Fast password hashing, private uploads in a temporary folder, and a cache no other test shares.

    Browser journeys (tests/e2e) run their own server process and are left alone.
    """
    if "e2e" in request.node.path.parts:
        yield
        return
    import uuid

    settings = request.getfixturevalue("settings")
    tmp_path = request.getfixturevalue("tmp_path")
    # argon2 is deliberately slow; the one test that checks it puts it back with the `settings` fixture.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    # Login throttling counts failures per address in the cache: a fresh key prefix per test keeps tests (and
    # other suites sharing the same Redis) from seeing each other's counters.
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {name: {**config, "KEY_PREFIX": prefix} for name, config in settings.CACHES.items()}
    # Channels closes "old" database connections before it dispatches each message to a consumer, group events
    # included. In a test the connection holds the test's transaction: on PostgreSQL closing it breaks the next
    # query of the test (SQLite's in-memory test database shrugs it off, which is how this hid until now).
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    yield


@pytest.fixture
def patient(db):
    from tests.factories import PatientFactory

    return PatientFactory()


@pytest.fixture
def other_patient(db):
    from tests.factories import PatientFactory

    return PatientFactory()


@pytest.fixture
def doctor(db):
    """A verified doctor (Practitioner) with a confirmed TOTP device; ``doctor.user`` signs in."""
    from tests.factories import DoctorFactory, TOTPDeviceFactory

    practitioner = DoctorFactory()
    TOTPDeviceFactory(user=practitioner.user)
    return practitioner
