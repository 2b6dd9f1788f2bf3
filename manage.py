#!/usr/bin/env python
"""Django's command-line utility for administrative tasks (``ihospital <command>`` does the same)."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ihospital.settings")
    try:
        import ihospital  # noqa: F401  (installed with `pip install -e .`)
    except ImportError:
        # Fallback for a checkout that was not installed: import the package straight from src/.
        sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Is it installed and is the virtualenv active? "
            "`make run` and `make test` create .venv and install the project into it."
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
