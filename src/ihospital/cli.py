"""The ``ihospital`` command.

``ihospital serve`` runs the whole embedded platform in one command: it migrates the database, loads the
demo data where the deployment allows it, then supervises the child processes: the ASGI web server
(uvicorn), the background task worker (django-tasks-db's ``db_worker``) and, in the embedded deployment (WeChat's
API configured at ``WECHAT_SIMULATOR_PORT`` on this machine), the local WeChat simulator
(``ihospital.wechat.simulator``), whose phone page opens the platform as WeChat's menu would.

Any other subcommand is handed to Django's management utility: ``ihospital audit verify`` is
``manage.py audit verify``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

SETTINGS_MODULE = "ihospital.settings"
# How long the children get to finish after SIGTERM before they are killed.
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2

USAGE = """\
ihospital serve [--host HOST] [--port PORT]
    migrate, load demo data (embedded deployment only), run the web server and the task worker
    (and the local WeChat simulator in the embedded deployment)
ihospital <django command> [args...]
    any Django management command, e.g. `ihospital migrate`, `ihospital audit verify`
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if args and args[0] == "serve":
        return serve(args[1:])
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ihospital", *args])
    return 0


# --- serve ------------------------------------------------------------------------------------------------


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ihospital serve", description="Run the web server and the task worker (Ctrl-C stops both)."
    )
    parser.add_argument(
        "--host", default=os.environ.get("HOST", "127.0.0.1"), help="default: $HOST or 127.0.0.1"
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="default: $PORT or 8000"
    )
    options = parser.parse_args(argv)
    # Providers call back (the sandbox's payment callbacks, from the task worker) at the address served here,
    # unless the deployment names its public address.
    os.environ.setdefault("SITE_URL", _url(_connect_host(options.host), options.port).rstrip("/"))
    if _port_answers(options.host, options.port):
        # Checked up front: otherwise the banner below could announce someone else's server.
        print(f"ihospital: {_url(options.host, options.port)} is already in use; try --port", file=sys.stderr)
        return 1

    try:
        run_worker, simulator_port = _prepare()
    except KeyboardInterrupt:
        print("\nihospital: interrupted before the server started", file=sys.stderr)
        return 130

    server_cmd = [
        sys.executable, "-m", "uvicorn", "ihospital.asgi:application",
        "--host", options.host, "--port", str(options.port),
        # Django's ASGI handler has no lifespan support; "off" spares a confusing startup message.
        "--lifespan", "off",
    ]  # fmt: skip
    # --no-reload: with DEBUG set the worker would otherwise fork an autoreloader we could not supervise.
    worker_cmd = [sys.executable, "-m", "django", "db_worker", "--no-reload"]

    children = {"web server": server_cmd}
    if run_worker:
        children["task worker"] = worker_cmd
    else:
        print("ihospital: TASKS_BACKEND is not a database backend: no task worker started", file=sys.stderr)
    optional = set()
    extra_lines: dict[str, str] = {}
    if simulator_port is not None:
        if simulator_port == options.port or not _port_free(simulator_port):
            print(
                f"ihospital: warning: port {simulator_port} (WECHAT_SIMULATOR_PORT) is busy; the WeChat simulator "
                "is not started (set WECHAT_SIMULATOR_PORT to a free port)",
                file=sys.stderr,
            )
        else:
            children["wechat simulator"] = [
                sys.executable, "-m", "ihospital.wechat.simulator", "--host", SIMULATOR_HOST,
                "--port", str(simulator_port), "--platform", os.environ["SITE_URL"],
            ]  # fmt: skip
            # The simulator is a convenience: if it stops, the platform goes on without it.
            optional.add("wechat simulator")
            phone = f"{_url(SIMULATOR_HOST, simulator_port)}_sim/phone"
            extra_lines["wechat simulator"] = f"WeChat simulator (phone): {phone}"
    return _supervise(children, options.host, options.port, optional=optional, extra_lines=extra_lines)


def _prepare() -> tuple[bool, int | None]:
    """Migrate and seed in this process; answer whether the configured task backend needs a db_worker, and the
    port of the local WeChat simulator to start (None: WeChat is configured elsewhere)."""
    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command, get_commands
    from django.db import connections
    from django.utils.module_loading import import_string
    from django_tasks_db.backend import DatabaseBackend

    call_command("migrate", interactive=False)
    if getattr(settings, "DEMO_ENABLED", False):
        if "seed_demo" in get_commands():
            call_command("seed_demo")  # prints the demo logins itself
        else:
            print("ihospital: no demo data loaded: the seed_demo command does not exist yet", file=sys.stderr)
    backend = import_string(settings.TASKS["default"]["BACKEND"])
    uses_worker = issubclass(backend, DatabaseBackend)
    if uses_worker:
        # One future run of each periodic job (slots ahead, result release...) for the worker to pick up.
        call_command("ensure_periodic")
    simulator_port = _simulator_port(settings)
    if simulator_port is not None:
        # The simulator plays this Official Account: it gets the same app id, secret, token and AES key.
        for name in ("WECHAT_APPID", "WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY"):
            if getattr(settings, name, ""):
                os.environ.setdefault(name, getattr(settings, name))
    # The children open their own connections; don't keep ours (an idle SQLite handle) open beside them.
    connections.close_all()
    return uses_worker, simulator_port


SIMULATOR_HOST = "127.0.0.1"


def _simulator_port(settings) -> int | None:
    """The simulator's port when WeChat's API and OAuth pages are configured at WECHAT_SIMULATOR_PORT on loopback
    (the embedded default); None when they point anywhere else (a real Official Account)."""
    from urllib.parse import urlsplit

    port = getattr(settings, "WECHAT_SIMULATOR_PORT", None)
    # Whoever reaches the simulator can be any WeChat user: never beside a production deployment.
    if not port or getattr(settings, "PRODUCTION", False):
        return None
    for base in (getattr(settings, "WECHAT_API_BASE", ""), getattr(settings, "WECHAT_OAUTH_BASE", "")):
        try:
            parts = urlsplit(base)
            if parts.hostname not in {"127.0.0.1", "localhost", "::1"} or parts.port != int(port):
                return None
        except ValueError:
            return None
    return int(port)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the simulator's server binds
        try:
            probe.bind((SIMULATOR_HOST, port))
        except OSError:
            return False
    return not _port_answers(SIMULATOR_HOST, port)


def _supervise(
    commands: dict[str, list[str]], host: str, port: int, *, optional: set[str] | None = None,
    extra_lines: dict[str, str] | None = None,
) -> int:
    """Run the children until a signal arrives (exit 0) or one of them ends on its own (exit non-zero); an
    ``optional`` child that ends is reported and left out. ``extra_lines``: a banner line per running child."""
    optional = optional or set()
    signals_received: list[int] = []

    def on_signal(signum, frame):
        signals_received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, subprocess.Popen] = {}
    exit_code = 0
    try:
        for name, cmd in commands.items():
            # Each child gets its own process group, so the SIGINT that Ctrl-C sends to the terminal's
            # foreground group reaches only us. We then send each child one SIGTERM: db_worker treats a
            # second signal as "abort the running task", which a direct SIGINT plus ours would amount to.
            children[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, process_group=0)  # noqa: S603

        announced = False
        stopped_optional: set[str] = set()
        while not signals_received:
            ended = [
                (name, proc.returncode)
                for name, proc in children.items()
                if proc.poll() is not None and name not in stopped_optional
            ]
            for name, code in [e for e in ended if e[0] in optional]:
                print(f"ihospital: warning: the {name} exited (code {code}); going on without it", file=sys.stderr)
                stopped_optional.add(name)
            ended = [e for e in ended if e[0] not in optional]
            if ended:
                name, code = ended[0]
                print(f"ihospital: the {name} exited unexpectedly (code {code}); stopping", file=sys.stderr)
                exit_code = code if code and code > 0 else 1
                break
            if not announced and _port_answers(host, port):
                lines = [text for name, text in (extra_lines or {}).items() if name not in stopped_optional]
                _announce(host, port, lines)
                announced = True
            time.sleep(POLL_INTERVAL)
        if signals_received:
            name = signal.Signals(signals_received[0]).name
            print(f"\nihospital: {name} received, stopping", file=sys.stderr)
    finally:
        _stop(children, signals_received)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


def _stop(children: dict[str, subprocess.Popen], signals_received: list[int]) -> None:
    """SIGTERM every child still running, wait for them, and kill what is left after STOP_TIMEOUT.

    A further Ctrl-C while waiting kills at once.
    """
    already = len(signals_received)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(proc.poll() is None for proc in children.values()):
        if time.monotonic() > deadline or len(signals_received) > already:
            for name, proc in children.items():
                if proc.poll() is None:
                    print(f"ihospital: killing the {name}", file=sys.stderr)
                    proc.kill()
                    proc.wait()
            break
        time.sleep(POLL_INTERVAL / 2)


def _connect_host(host: str) -> str:
    # A wildcard bind answers on loopback; that is also the address to show someone on this machine.
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((_connect_host(host), port), timeout=0.5):
            return True
    except OSError:
        return False


def _announce(host: str, port: int, extra_lines: list[str] | None = None) -> None:
    url = _url(_connect_host(host), port)
    lines = [f"  {text}" for text in extra_lines or []]
    line = "=" * max(len(url) + 24, 48, *(len(text) + 2 for text in lines))
    extra = f"\n  (listening on all interfaces: {host or '*'})" if _connect_host(host) != host else ""
    more = "".join(f"\n{text}" for text in lines)
    print(f"\n{line}\n  ihospital is running at {url}{extra}{more}\n  press Ctrl-C to stop\n{line}\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
