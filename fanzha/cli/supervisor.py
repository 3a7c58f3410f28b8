"""Worker processes for ``fanzha serve --workers N``: each listens on its own socket (SO_REUSEPORT).

With one listening socket shared by all workers (uvicorn's ``--workers``), the worker that
wakes first accepts every connection waiting at that moment, busy or not: in a burst of
100 reports one worker took about 60% of the CPU while the other idled. With a socket per
worker bound to the same port, the kernel spreads new connections over the workers.

The supervisor starts the workers, starts a new one when one dies (a worker that could
not start stops the whole server, as it would fail the same way again), and on SIGTERM or
SIGINT asks each to shut down gracefully, killing any still running after the grace time.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("fanzha.serve")

STARTUP_FAILURE = 3  # uvicorn's exit code for a server that never started serving


class WorkersError(RuntimeError):
    """The workers cannot listen or could not start."""


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other sockets of this user may bind as well."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise WorkersError("this platform has no SO_REUSEPORT: run one worker per port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WorkersError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own socket, then uvicorn serving ``worker_app`` on it until told to stop."""
    import uvicorn

    try:
        sock = reuseport_socket(host, port)
    except WorkersError as exc:
        print(f"fanzha serve worker: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config("fanzha.cli.serve:worker_app", factory=True, **options)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def run_workers(n: int, host: str, port: int, options: dict[str, Any], *, grace_seconds: float) -> int:
    """Serve with ``n`` worker processes until SIGTERM/SIGINT; the exit code for the command."""
    # The supervisor keeps the port bound (never listening, so it is given no connections): the
    # port is taken from the start, an address in use fails here with a clear message, and port 0
    # becomes one port all workers share.
    holder = reuseport_socket(host, port)
    port = holder.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each: no state forked from here
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start() -> BaseProcess:
        proc = ctx.Process(target=_worker, args=(host, port, options), name="fanzha-serve-worker")
        proc.start()
        return proc

    code = 0
    procs = [start() for _ in range(n)]
    try:
        while not stop.wait(0.5):
            for i, proc in enumerate(procs):
                if proc.is_alive():
                    continue
                if proc.exitcode == STARTUP_FAILURE:
                    log.error("worker %s could not start; stopping", proc.pid)
                    code = 1
                    stop.set()
                    break
                log.warning("worker %s ended with code %s; starting another", proc.pid, proc.exitcode)
                procs[i] = start()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes requests in flight, then exits
        for proc in procs:
            proc.join(grace_seconds + 10)
            if proc.is_alive():
                log.warning("worker %s did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.join()
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
