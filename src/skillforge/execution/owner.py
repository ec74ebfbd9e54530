"""Which process owns something: ``host:pid:start`` of a process, and whether it is still alive.

Containers are labelled with their owner (``skillforge.owner``) and work units of a
workspace are leased to one (``Workspace.take_leases``), so that what a killed process
left behind can be told apart from what a live one is using. The start time (clock
ticks since boot, from ``/proc``) tells a pid the system gave again to another process
apart from the owner. ``host`` is the host name and the pid namespace
(``name@inode``): a process in a container that shares the host name (host
networking) has pids of its own, and is judged as another host's. No Docker here:
the workspace uses it too.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int | str) -> str:
    """Start time of a process of this host in clock ticks since boot ("" when there is none)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def owner() -> str:
    """``host:pid:start`` of this process (``host``: ``name@pid namespace``)."""
    namespace = _pid_namespace()
    return f"{socket.gethostname()}{'@' + namespace if namespace else ''}:{os.getpid()}:{process_start('self')}"


def owner_alive(label: str) -> bool:
    """Whether the process an ``owner()`` label names may still be alive: True for another
    host's or pid namespace's (not ours to judge), else whether its pid runs with the same
    start time (any process with that pid, for a label without one: ``host:pid``)."""
    host, _, rest = label.partition(":")
    name, _, namespace = host.partition("@")
    pid, _, start = rest.partition(":")
    if name != socket.gethostname() or (namespace and namespace != _pid_namespace()) or not pid.isdigit():
        return True
    now = process_start(pid)
    return bool(now) and (not start or now == start)
