"""Claims on grid cells: one owner per cell, across processes, commands and cluster hosts.

Before a cell trains, its runner *claims* it: a small JSON file ``<run_id>.claim`` beside the
cell's work dir, holding the owner's host, pid, a random token and a lease expiry. The owner
renews the lease from a background thread every ``lease_s / 3`` seconds; a claim whose lease
has expired is stale (its owner died or lost the disk) and anyone may take it over. On the
owner's own host a claim whose pid is gone is stale at once (a killed run's cells are free for
the next command immediately); pids say nothing across hosts, so there the lease decides.

Reading, taking over and renewing a claim happen under a ``filelock`` lock file, so two commands
started together never both take the same cell. Our choice: 60 s leases (renewed every 20 s)
keep a dead host's cells blocked for at most a minute while a busy file system has 40 s of
slack; ``$FUSIONBENCH_LEASE_S`` changes it.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from typing import Any

from filelock import FileLock

from fusionbench.paths import LEASE_ENV

DEFAULT_LEASE_S = 60.0


def lease_seconds() -> float:
    """``$FUSIONBENCH_LEASE_S`` or :data:`DEFAULT_LEASE_S` (seconds, > 0)."""
    try:
        value = float(os.environ.get(LEASE_ENV, DEFAULT_LEASE_S))
    except ValueError:
        value = DEFAULT_LEASE_S
    return value if value > 0 else DEFAULT_LEASE_S


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read_claim(path: str) -> dict | None:
    """The claim at ``path`` (``None`` when there is none or it is unreadable)."""
    try:
        with open(path, encoding='utf-8') as f:
            claim = json.load(f)
    except (OSError, ValueError):
        return None
    return claim if isinstance(claim, dict) else None


def is_stale(claim: dict | None, now: float | None = None) -> bool:
    """True when nobody holds ``claim``: none, unreadable, lease expired, or (same host) the
    owner pid is gone."""
    if not claim:
        return True
    try:
        if float(claim['expires_at']) < (time.time() if now is None else now):
            return True
        if claim.get('host') == socket.gethostname() and not pid_alive(int(claim['pid'])):
            return True
    except (KeyError, TypeError, ValueError):
        return True
    return False


def describe(claim: dict | None) -> str:
    """``host:pid`` of a claim's owner."""
    return f"{(claim or {}).get('host', '?')}:{(claim or {}).get('pid', '?')}"


class CellClaim:
    """A claim on one cell, held by this process while the cell runs.

    ``acquire()`` returns False when another live owner holds the cell; after a True, a thread
    renews the lease until ``release()``. Use as ``with CellClaim(path) as claim: if
    claim.held: ...``.
    """

    def __init__(self, path: str, lease_s: float | None = None):
        self.path = path
        self.lease_s = lease_seconds() if lease_s is None else float(lease_s)
        self.token = uuid.uuid4().hex
        self.held = False
        self.lost = False
        self.holder: dict | None = None
        self._lock = FileLock(f'{path}.lock')
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _payload(self) -> dict[str, Any]:
        now = time.time()
        return {'host': socket.gethostname(), 'pid': os.getpid(), 'token': self.token,
                'renewed_at': now, 'expires_at': now + self.lease_s}

    def _write(self) -> None:
        tmp = f'{self.path}.{os.getpid()}.{uuid.uuid4().hex}.tmp'
        try:
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(self._payload(), f)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _ours(self, claim: dict | None) -> bool:
        return bool(claim) and claim.get('token') == self.token

    def acquire(self) -> bool:
        """Take the cell unless a live owner holds it (then :attr:`holder` is its claim)."""
        os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
        with self._lock:
            claim = read_claim(self.path)
            if not self._ours(claim) and not is_stale(claim):
                self.holder = claim
                return False
            self._write()
        self.held = True
        self._thread = threading.Thread(target=self._renew, name='fusionbench-lease',
                                        daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                with self._lock:
                    if not self._ours(read_claim(self.path)):
                        self.lost = True  # taken over after our lease ran out
                        return
                    self._write()
            except OSError:
                continue  # a hiccup of the file system: try again; the lease has slack

    def release(self) -> None:
        """Stop renewing and remove the claim if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.held:
            return
        self.held = False
        try:
            with self._lock:
                if self._ours(read_claim(self.path)):
                    os.remove(self.path)
        except OSError:
            pass  # the lease expires on its own

    def __enter__(self) -> CellClaim:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
