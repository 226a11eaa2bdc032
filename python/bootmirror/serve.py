"""A machine's volume over NBD, for QEMU, ``qemu-img``, ``nbdinfo`` and the kernel's nbd client.

    with bootmirror.serve.serve("lab", "C:") as server:       # read-only, on a private Unix socket
        subprocess.run(["qemu-img", "info", server.uri])      # nbd+unix:///?socket=/tmp/.../nbd.sock
    bootmirror.serve.serve("lab", "C:", port=10809)            # nbd://127.0.0.1:10809
    bootmirror.serve.serve("lab", "C:", writable=True)         # writes reach every plex of a mirror

The server is nbdkit (Debian's ``nbdkit`` and ``nbdkit-plugin-python``) running this package's
plugin (``bootmirror/_nbd_plugin.py``) in its embedded Python: the plugin opens the machine folder
and reads the volume's bytes from the engine's device, so a mirrored volume is served from a plex
in sync, and a mirror whose disk is missing still serves from the plex that is left. Read-only is
the default: the machine's images stay opened read-only and nothing is written, not even
machine.json. With ``writable=True`` writes go through the volume's device as every other write
does (all plexes of a mirror, write-intent bitmaps for a missing one), under the machine folder's
write lock, which the server holds until it stops.
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from typing import IO, TYPE_CHECKING, List, Optional, Union

from . import _core
from .disk import Disk

if TYPE_CHECKING:
    from .machine import Machine

__all__ = ["NbdServer", "serve", "volume_device"]

PathLike = Union[str, "os.PathLike[str]"]

#: The plugin nbdkit's Python runs: a file beside this module, so an install carries it.
PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_nbd_plugin.py")

# How long a start may take before it counts as hung (nbdkit is ready in well under a second; the
# plugin's first open of a machine reads its disk group).
_START_TIMEOUT = 60.0
# How long a stop waits for nbdkit to finish its connections and close the machine before it is killed.
_STOP_TIMEOUT = 30.0


def volume_device(machine: "Machine", volume: str) -> Disk:
    """The bytes of the volume `volume` names on `machine`: a drive letter ("C:", "c") of a basic
    or a dynamic volume, or a volume's number as list volume shows it ("0"). The
    engine's device: a basic volume's partition, or a dynamic volume over its plexes (reads from a
    plex in sync, writes to every plex that takes them). UsageError when there is no such volume or
    no plex of it can be read."""
    which = volume.strip()
    # A number as list volume writes it (ASCII digits; "²" is a digit to str.isdigit, not to int),
    # of a length any volume count fits in.
    if which.isascii() and which.isdigit() and len(which) <= 18:
        return Disk(_core.machine_listed_volume_device(machine._m, int(which)))
    return Disk(machine.drive_device(which))


def _nbdkit() -> str:
    path = shutil.which("nbdkit") or shutil.which("nbdkit", path="/usr/sbin:/usr/bin")
    if path is None:
        raise _core.UsageError("nbdkit is not installed (Debian: apt-get install nbdkit nbdkit-plugin-python)")
    return path


def _plugin_python(nbdkit: str) -> str:
    """The Python version nbdkit's plugin embeds ("3.11.1"); UsageError when the plugin is missing."""
    try:
        found = subprocess.run([nbdkit, "python", "--dump-plugin"], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=30)
    except subprocess.TimeoutExpired:
        raise _core.Error("nbdkit python --dump-plugin did not answer within 30 s") from None
    for line in found.stdout.splitlines():
        if line.startswith("python_version="):
            return line.split("=", 1)[1]
    raise _core.UsageError("nbdkit's Python plugin is not installed (Debian: apt-get install nbdkit-plugin-python): "
                           + (found.stderr.strip() or f"nbdkit python --dump-plugin exited with {found.returncode}"))


def _package_paths() -> List[str]:
    """The plugin's parameters that let nbdkit's Python import this very package and its
    extension: the folder holding the package (``path=``), and this interpreter's site folders
    (``sitedir=``), whose .pth files an editable install needs to find its extension."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sitedirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        sitedirs.append(site.getusersitepackages())
    return [f"path={package_parent}"] + [f"sitedir={d}" for d in sitedirs if os.path.isdir(d)]


class NbdServer:
    """A running nbdkit serving one volume; a context manager that stops it on leaving.

    ``uri`` is the NBD URI clients take (``qemu-img info``, ``nbdinfo``, QEMU's ``-drive
    file=``); ``size`` is the volume's size in bytes; ``writable`` whether the export takes writes."""

    def __init__(self, process: "subprocess.Popen[bytes]", uri: str, size: int, writable: bool,
                 private_folder: str, log_path: Optional[str], socket: Optional[str]) -> None:
        self.process = process
        self.uri = uri
        self.size = size
        self.writable = writable
        self._private_folder = private_folder
        self._log_path = log_path
        self._socket = socket

    @property
    def running(self) -> bool:
        """Whether nbdkit still runs."""
        return self.process.poll() is None

    @property
    def log(self) -> str:
        """What nbdkit printed so far (its errors and the plugin's), when it was captured."""
        if self._log_path is None or not os.path.exists(self._log_path):
            return ""
        with open(self._log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait(self) -> int:
        """Block until nbdkit exits (Ctrl-C stops the waiting with KeyboardInterrupt, not the
        server); returns its exit status."""
        return self.process.wait()

    def stop(self) -> int:
        """Stop serving: nbdkit ends its connections and the plugin closes the machine (flushing
        what was written, releasing the folder's write lock). Returns nbdkit's exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # nbdkit leaves its socket behind, and a socket file left refuses the next start (EADDRINUSE).
        if self._socket is not None and os.path.exists(self._socket):
            os.unlink(self._socket)
        shutil.rmtree(self._private_folder, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> "NbdServer":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        mode = "read-write" if self.writable else "read-only"
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"<NbdServer {self.uri} {self.size:,} bytes {mode}, {state}>"


def serve(machine: PathLike, volume: str, socket: Optional[PathLike] = None, port: Optional[int] = None,
          writable: bool = False, log: Optional[IO[str]] = None) -> NbdServer:
    """Start serving volume `volume` ("C:", or a dynamic volume's number) of the machine folder
    `machine` over NBD and return once clients can connect.

    The export is on the Unix socket `socket`, or on TCP port `port` of 127.0.0.1 only (no other
    address: the export has no authentication), or, with neither, on a socket in a private
    temporary folder. Read-only unless `writable`. nbdkit's messages go to `log` (a file with a
    descriptor, such as ``sys.stderr``); by default they are kept and readable as
    :attr:`NbdServer.log`. The volume is looked up first in this process (:func:`volume_device`),
    so a wrong name raises its UsageError here; the machine is not held open meanwhile."""
    if socket is not None and port is not None:
        raise _core.UsageError("serve on a Unix socket or a TCP port, not both")
    if port is not None and not 0 < port < 65536:
        raise _core.UsageError(f"port {port} is not a TCP port (1 to 65535)")
    folder = os.path.abspath(os.fspath(machine))
    from .machine import Machine

    with Machine.open(folder) as opened:
        size = volume_device(opened, volume).size
    nbdkit = _nbdkit()
    embedded = _plugin_python(nbdkit)
    if embedded.split(".")[:2] != [str(sys.version_info[0]), str(sys.version_info[1])]:
        raise _core.UsageError(f"nbdkit's Python plugin embeds Python {embedded}, and bootmirror's extension is "
                               f"built for {sys.version_info[0]}.{sys.version_info[1]}: serve from a bootmirror "
                               f"installed for Python {'.'.join(embedded.split('.')[:2])}")

    private = tempfile.mkdtemp(prefix="bootmirror-nbd-")
    try:
        pidfile = os.path.join(private, "nbdkit.pid")
        path: Optional[str] = None
        if port is not None:
            listen = ["--ipaddr", "127.0.0.1", "--port", str(port)]
            uri = f"nbd://127.0.0.1:{port}"
        else:
            path = os.path.abspath(os.fspath(socket)) if socket is not None else os.path.join(private, "nbd.sock")
            if os.path.exists(path):
                raise _core.UsageError(f"{path} exists: give a new path for the socket (or remove it, if no server uses it)")
            listen = ["--unix", path]
            uri = f"nbd+unix:///?socket={path}"
        # -r as well as the plugin's own read-only default: nbdkit then refuses writes in the
        # protocol, before any Python runs. --exit-with-parent: a server never outlives us.
        command = [nbdkit, "--foreground", "--exit-with-parent", "--pidfile", pidfile, *listen,
                   *([] if writable else ["--readonly"]),
                   "python", PLUGIN, f"machine={folder}", f"volume={volume}", f"writable={'true' if writable else 'false'}",
                   *_package_paths()]
        log_path = os.path.join(private, "nbdkit.log") if log is None else None
        if log_path is not None:
            with open(log_path, "w") as captured:
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=captured)
        else:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        server = NbdServer(process, uri, size, writable, private, log_path, path)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    _wait_until_ready(server, pidfile)
    return server


def _wait_until_ready(server: NbdServer, pidfile: str) -> None:
    """nbdkit writes its pid file once it accepts connections (nbdkit(1), --pidfile): wait for
    that, or for it to exit, whose messages then say why."""
    deadline = time.monotonic() + _START_TIMEOUT
    try:
        while not (os.path.exists(pidfile) and os.path.getsize(pidfile) > 0):
            if server.process.poll() is not None:
                raise _core.Error(f"nbdkit did not start (exit status {server.process.returncode})"
                                  + (f": {server.log.strip()}" if server.log.strip() else ""))
            if time.monotonic() > deadline:
                raise _core.Error(f"nbdkit did not accept connections within {_START_TIMEOUT:.0f} s")
            time.sleep(0.01)
    except BaseException:
        server.stop()
        raise
