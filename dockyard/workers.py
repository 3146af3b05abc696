"""Several worker processes serving one port: fork, forward stop signals, and stop all when one dies.

Each worker binds the address itself with ``SO_REUSEPORT``, so the kernel spreads connections over the
workers and each runs its own event loop on its own core. Nothing is shared in memory: every piece of
state a request needs lives in storage or in the signed upload ``_state`` token.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """A worker whose supervisor is killed (even by SIGKILL) gets SIGTERM, instead of serving on as an
    orphan that holds the port."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os._exit(0)


def run_forked(action: Callable[[], bytes]) -> bytes | None:
    """``action()`` in a forked child, its result sent back through a pipe; None when it failed (the child
    logged why).

    What the action starts stays in the child: its threads (uvloop keeps its resolver threads for good) and
    the OpenSSL state they touch. A process that forks workers afterwards must not have them: a lock that
    any other thread holds at the moment of a fork stays held, for ever, in the child (seen: a worker
    waiting on OpenSSL's random-generator lock in its first ``SSL_CTX_new``, for its S3 client).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 1
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(action())
            code = 0
        except BaseException:
            log.exception("startup step failed")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        result = pipe.read()
    _, status = os.waitpid(pid, 0)
    return result if os.waitstatus_to_exitcode(status) == 0 else None


def supervise(count: int, work: Callable[[int], None], on_exit: Callable[[int], None] | None = None) -> int:
    """Run ``work(index)`` in ``count`` forked children until a stop signal or until one of them exits.

    Returns 0 after a stop signal, else the exit code of the first child that ended on its own (a
    worker that cannot serve takes the others down, so a supervisor above restarts a whole server).
    ``on_exit(pid)`` runs for every child that ended.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    # A stop signal that arrives while forking waits until every child is known (and is then forwarded),
    # so no worker is left behind by a supervisor that stopped half-way.
    parent = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _die_with_parent(parent)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            code = 0
            try:
                work(index)
            except KeyboardInterrupt:
                pass
            except BaseException:
                log.exception("worker %d failed", index)
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    first_code: int | None = None
    while children:
        pid, status = os.wait()
        ended = children.pop(pid, None)
        if on_exit is not None:
            on_exit(pid)
        if ended is None or stopping:
            continue
        first_code = os.waitstatus_to_exitcode(status)
        log.error("worker %d (pid %d) exited with %d: stopping the others", ended, pid, first_code)
        stop(signal.SIGTERM, None)
    return 0 if first_code is None else (first_code or 1)
