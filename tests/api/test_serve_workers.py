"""``fanzha serve --workers N``: a listening socket per worker, connections spread, a dead worker replaced.

Read off Linux's /proc: which process holds which socket, and which sockets listen on
the server's port or hold its connections.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_helpers import free_port, serve_process

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")

LISTEN, ESTABLISHED = "0A", "01"


def _workers(parent: int) -> list[int]:
    """The worker processes of ``fanzha serve`` (its children running the spawned interpreter, not its trackers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields[1] == str(parent) and b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def _sockets(pid: int) -> set[str]:
    """Inodes of the sockets process ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 TCP sockets on local ``port`` in ``state`` (listening, or a connection)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
            inodes.add(cols[9])
    return inodes


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def test_workers_listen_apart_share_the_connections_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    # One server for three checks: starting one costs half a minute on a loaded machine.
    with serve_process(tmp_path, workers=2) as (proc, base, _):
        workers = _workers(proc.pid)
        assert len(workers) == 2
        port = _port(base)
        listening = _tcp(port, LISTEN)
        held = [_sockets(pid) & listening for pid in workers]
        assert all(len(h) == 1 for h in held) and held[0] != held[1], "one listening socket per worker"
        assert not _sockets(proc.pid) & listening, "the supervisor holds the port but accepts nothing"
        clients = [httpx.Client(base_url=base, timeout=30) for _ in range(40)]
        try:
            for c in clients:  # 40 connections, kept open: each is held by the worker that accepted it
                assert c.get("/api/health").status_code == 200
            connections = _tcp(port, ESTABLISHED)
            per_worker = [len(_sockets(pid) & connections) for pid in workers]
            assert sum(per_worker) == 40
            assert min(per_worker) > 0, f"every connection went to one worker: {per_worker}"
        finally:
            for c in clients:
                c.close()

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            now = _workers(proc.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            assert time.monotonic() < deadline, f"no replacement worker: {now}"
            time.sleep(0.2)
        replacement = (set(now) - set(workers)).pop()
        while not _sockets(replacement) & _tcp(port, LISTEN):  # listening once it has started
            assert time.monotonic() < deadline, "the replacement never listened"
            time.sleep(0.2)
        for _ in range(10):
            with httpx.Client(base_url=base, timeout=30) as c:
                assert c.get("/api/health").status_code == 200

        proc.terminate()
        assert proc.wait(timeout=60) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in now), "workers outlived the supervisor"


def test_a_port_taken_by_another_program_fails_at_once_with_a_message(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as other:  # a server without SO_REUSEPORT holds the port
        other.bind(("127.0.0.1", port))
        other.listen()
        done = subprocess.run([sys.executable, "-m", "fanzha.cli.main", "serve", "--url",
                               f"sqlite:///{tmp_path / 'taken.sqlite3'}", "--port", str(port), "--workers", "2",
                               "--no-console"], capture_output=True, text=True, timeout=240,
                              env={**os.environ, "FANZHA_DATA_DIR": str(tmp_path)})
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
