"""``jiefang view``: the browser view (Mesa's SolaraViz) served on this machine."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sim.experiment.executors import signal_at_parent_death
from sim.experiment.store import OutputError
from sim.extras import require
from sim.geo import scenario as loader  # looked up when called: tests replace it
from sim.interface.commands.common import EXIT_OK, _show_arg
from sim.model.catalogue import locate
from sim.model.overrides import parse_sets

#: Seconds `jiefang view` gives the server to stop after Ctrl-C before killing it.
VIEW_STOP_S = 5.0


def cmd_view(args) -> int:
    require("viz")
    app = Path(__file__).parent.parent / "app.py"  # sim/interface/app.py
    env = dict(os.environ)
    scenario = args.scenario or Path("demo")
    overrides = parse_sets(args.overrides)
    # A bad file or --set is a clear error before any server starts.
    loader.load_scenario(scenario, overrides=overrides)
    env["JIEFANG_VIEW_SCENARIO"] = str(locate(scenario).resolve())
    env["JIEFANG_VIEW_SET"] = json.dumps(overrides)
    _check_listen(args.host, args.port)
    print(f"jiefang view: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    command = [sys.executable, "-m", "solara", "run", str(app), "--host", args.host,
               "--port", str(args.port), "--production", "--no-open",
               # no upgrade prompt: solara-assets (the offline front end) holds Solara at 1.58
               "--no-check-version"]  # fmt: skip
    # The server is a child process: it must stop when `jiefang view` is told to stop
    # (SIGTERM, SIGHUP) or is killed, or it goes on answering with nobody to stop it.
    server = subprocess.Popen(
        command, env=env, preexec_fn=lambda: signal_at_parent_death(signal.SIGTERM)
    )

    def stop(signum, frame) -> None:
        server.terminate()
        raise KeyboardInterrupt  # then as Ctrl-C

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        code = server.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group)
        # Ctrl-C is how a server is meant to stop. Solara's shutdown waits on its open pages
        # (for good while a page plays); the view holds nothing but models in memory, so a
        # server still shutting down after a few seconds is killed.
        try:
            server.wait(timeout=VIEW_STOP_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print("jiefang view: stopped", file=sys.stderr)
        return EXIT_OK
    return EXIT_OK if code in (0, -signal.SIGTERM) else code


#: Hosts that listen on every interface: only these spellings, asked for by name.
_EVERY_INTERFACE = ("0.0.0.0", "::", "[::]")


def _check_listen(host: str, port: int) -> None:
    """The view listens where it was asked to, and only there: an empty or ``*`` host (every
    interface, by accident) is refused, ``0.0.0.0`` or ``::`` is a warning, and the port
    must be free before the URL is printed (else uvicorn's error came after it, exit 3)."""

    if host.strip() in ("", "*"):
        raise OutputError(
            f"--host {_show_arg(host)}: would listen on every interface; give --host 0.0.0.0 "
            "if the page is meant to be reachable from other machines"
        )
    if host in _EVERY_INTERFACE:
        print(f"jiefang view: warning: listening on every interface ({host}): anyone who can "
              "reach this machine can open the page and run simulations",
              file=sys.stderr)  # fmt: skip
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn binds: a port left in TIME_WAIT is free, one listened on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise OutputError(f"--host {_show_arg(host)} --port {port}: cannot listen there "
                          f"({reason})") from None  # fmt: skip
