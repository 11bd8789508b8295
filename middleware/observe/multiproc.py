"""prometheus-client's multiprocess mode under --num_workers: the directory relaykit makes, cleans and reads.

The parent makes (or empties) the directory and sets PROMETHEUS_MULTIPROC_DIR before uvicorn starts its workers
(which import prometheus-client afresh and so write their values to files there); it removes a directory it made
when it exits. A worker that stops marks its live gauges dead; one that died without stopping is noticed at the
next scrape (its pid is gone) and marked then, so in-flight counts never include a dead worker's calls.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def prepare() -> str:
    """Before the workers start: a fresh directory, ours (removed at exit) unless the user named one."""
    path = os.environ.get(ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):  # a previous run's values must not be summed in
            os.remove(stale)
        return path
    path = tempfile.mkdtemp(prefix="relaykit-metrics-")
    os.environ[ENV] = path
    atexit.register(shutil.rmtree, path, True)
    return path


def mark_dead_workers() -> None:
    """Drop the live-gauge files of workers that are gone (a crash leaves them behind)."""
    from prometheus_client import multiprocess

    path = os.environ[ENV]
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = name.rsplit("_", 1)[-1][:-3]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), path)


def mark_self_dead() -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid(), os.environ[ENV])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
