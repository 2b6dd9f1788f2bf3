"""What does the hash chain cost per audited action?

Compares ``core.audit.record`` (lock the chain head, hash, insert, move the head) with the baseline of a
plain insert of the same row without the chain (same table shape: a TimelineEvent insert), in the same run,
on the same database. Also times ``verify_chain`` per 1,000 rows.

Run: ``.venv/bin/python bench/audit_chain.py`` (SQLite) or with DATABASE_URL=postgres://... (PostgreSQL).
"""

from __future__ import annotations

import time

import _django

_django.setup()

from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import connection  # noqa: E402

from ihospital.core import audit  # noqa: E402
from ihospital.core.models import AuditEvent, TimelineEvent  # noqa: E402

N = 2000
WARMUP = 100


def time_each(fn, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def chained(i: int) -> None:
    audit.record(
        actor=None,
        action="read",
        object_type="records.condition",
        object_id=i,
        patient_id=i % 50,
        detail={"view": "chart"},
    )


ct = ContentType.objects.get_for_model(AuditEvent)


def plain(i: int) -> None:
    TimelineEvent.objects.create(content_type=ct, object_id=str(i), from_status="a", to_status="b", reason="chart")


def main() -> None:
    time_each(chained, WARMUP)
    time_each(plain, WARMUP)
    base = _django.percentiles(time_each(plain, N))
    chain = _django.percentiles(time_each(chained, N))
    start = time.perf_counter()
    report = audit.verify_chain()
    verify_ms = (time.perf_counter() - start) * 1000
    assert report.ok, report
    print(f"database: {connection.vendor}, {N} writes each")
    print(f"baseline plain insert : {_django.fmt(base)}")
    print(f"hash-chained audit row: {_django.fmt(chain)}")
    per_thousand = verify_ms / report.checked * 1000
    print(f"verify_chain: {report.checked} rows in {verify_ms:.0f} ms = {per_thousand:.1f} ms per 1,000 rows")
    print(
        f"audit_chain: chained/plain p50 ratio {chain['p50'] / base['p50']:.2f}x, "
        f"p95 ratio {chain['p95'] / base['p95']:.2f}x (p50 {chain['p50']:.3f} ms vs {base['p50']:.3f} ms)"
    )


if __name__ == "__main__":
    main()
