"""Small helpers shared by the unit and API tests (no fixtures here: those live at the end of conftest.py)."""

from __future__ import annotations

from django.apps import apps
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.accounts import services as account_services

# Every model whose rows a refused request must leave alone. The audit log is left out on purpose: a refusal
# of a chart access is itself recorded there (outcome "denied"); tests that care check it separately.
STATE_MODELS = [
    "accounts.User",
    "accounts.PatientProfile",
    "accounts.StaffProfile",
    "accounts.Consent",
    "accounts.Proxy",
    "accounts.ApiToken",
    "directory.Facility",
    "directory.Department",
    "directory.Practitioner",
    "records.Encounter",
    "records.Condition",
    "records.Allergy",
    "records.MedicationStatement",
    "records.Document",
    "records.CareRelationship",
    "core.TimelineEvent",
]


def counts(*, with_audit: bool = False) -> dict[str, int]:
    labels = STATE_MODELS + (["core.AuditEvent"] if with_audit else [])
    return {label: apps.get_model(label).objects.count() for label in labels}


def token_headers(user, *, otp_verified: bool | None = None) -> dict[str, str]:
    """A bearer token for ``user`` (staff get an OTP-verified one unless told otherwise)."""
    verified = user.needs_second_factor if otp_verified is None else otp_verified
    key = account_services.issue_api_token(user=user, otp_verified=verified)
    return {"authorization": f"Bearer {key}"}


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    good = int(current_code(device))
    return f"{(good + 500_000) % 1_000_000:06d}"


def verify_session(client, device: TOTPDevice) -> None:
    """Mark a logged-in test client's session as having passed the second factor (like django_otp.login)."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert body["error"]["message"], body
    return body["error"]


def run_in_threads(count: int, fn, *, timeout: float = 120) -> list[tuple[str, object]]:
    """Run ``fn(i)`` in ``count`` threads released together, each on its own database connection.

    Returns one ``(kind, value)`` per thread: ``("ok", result)``, ``("domain", code)`` for a ``DomainError``, or
    ``("crash", repr)`` for anything else (an IntegrityError or a 500 escaping would show up here).
    """
    import threading

    from django.db import connection

    from ihospital.core.errors import DomainError

    barrier = threading.Barrier(count)
    results: list[tuple[str, object]] = [("crash", "did not finish")] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", fn(i))
        except DomainError as exc:
            results[i] = ("domain", exc.code)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results[i] = ("crash", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is still running (deadlock?)"
    return results
