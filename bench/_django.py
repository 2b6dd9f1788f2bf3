"""Shared set-up for benchmarks: a throwaway database (SQLite in a temp dir unless DATABASE_URL is set)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path


def setup() -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "src"))
    os.environ.setdefault("IHOSPITAL_VAR_DIR", tempfile.mkdtemp(prefix="ihospital-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ihospital.settings")
    import django
    from django.core.management import call_command

    django.setup()
    if os.environ.get("DATABASE_URL"):
        # Never touch a real database: benchmarks run on pytest-style throwaway ones only.
        import atexit

        from django.db import connection

        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        atexit.register(connection.creation.destroy_test_db, old_name, verbosity=0)
    else:
        call_command("migrate", verbosity=0)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100)
    return {"p50": q[49], "p95": q[94], "p99": q[98], "mean": statistics.fmean(ordered)}


def fmt(stats: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}ms" for k, v in stats.items())
