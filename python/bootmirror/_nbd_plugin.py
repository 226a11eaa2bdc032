"""nbdkit's Python plugin for one volume of a bootmirror machine (nbdkit-python-plugin(3), API 2).

    nbdkit python .../bootmirror/_nbd_plugin.py machine=FOLDER volume=C: [writable=true] \\
        [path=DIR]... [sitedir=DIR]...

bootmirror.serve starts it with the parameters filled in; it runs in nbdkit's embedded Python,
not in the interpreter that started it, so ``path=`` (the folder holding the bootmirror package)
and ``sitedir=`` (that interpreter's site folders, whose .pth files an editable install needs)
say where to import bootmirror from. The volume's bytes are the engine's device for it
(bootmirror.serve.volume_device): nothing here knows a layout. Read-only unless writable=true;
then writes go through the same device, to every plex of a mirror.
"""

import errno
import os
import site
import sys

import nbdkit

API_VERSION = 2

_settings = {"machine": None, "volume": None, "writable": False}
_paths = []
_sitedirs = []
# The machine and the volume's device, opened once for every connection (after nbdkit's fork): a
# second Machine object would contend with the first for the folder's write lock.
_machine = None
_device = None


def config(key, value):
    if key in ("machine", "volume"):
        _settings[key] = value
    elif key == "writable":
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"writable={value}: expected true or false")
        _settings["writable"] = value.lower() in ("true", "1", "yes")
    elif key == "path":
        _paths.append(value)
    elif key == "sitedir":
        _sitedirs.append(value)
    else:
        raise ValueError(f"unknown parameter {key}= (machine=, volume=, writable=, path=, sitedir=)")


def config_complete():
    for key in ("machine", "volume"):
        if not _settings[key]:
            raise ValueError(f"{key}= is required")
    for folder in _sitedirs:
        site.addsitedir(folder)
    for folder in reversed(_paths):
        sys.path.insert(0, folder)


def thread_model():
    # One request at a time: the engine's devices take their own locks, but the Python callbacks
    # hold the GIL anyway, and serial requests keep a writable export's order plain.
    return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS


def _open():
    import bootmirror
    from bootmirror import serve

    machine = bootmirror.Machine.open(_settings["machine"])
    try:
        return machine, serve.volume_device(machine, _settings["volume"])
    except BaseException:
        machine.close()
        raise


def get_ready():
    # Opened once here so that a wrong folder or volume stops nbdkit before it serves, with the
    # engine's message; after_fork opens it for good (a thread of the machine does not survive a fork).
    machine, _ = _open()
    machine.close()


def after_fork():
    global _machine, _device
    _machine, _device = _open()


def cleanup():
    if _machine is not None:
        if _settings["writable"]:
            _device.flush()
        _machine.close()


def open(readonly):
    return {"writable": _settings["writable"] and not readonly}


def export_description(h):
    return f"volume {_settings['volume']} of the machine {os.path.basename(os.path.normpath(_settings['machine']))}"


def get_size(h):
    return _device.size


def can_write(h):
    return h["writable"]


def can_flush(h):
    return h["writable"]


def can_fua(h):
    return nbdkit.FUA_EMULATE if h["writable"] else nbdkit.FUA_NONE


def can_multi_conn(h):
    # Every connection reads and writes the one device of this process: a flush on one covers all.
    return True


def _engine_call(call):
    """The engine's OSError reaches the client with its errno (EIO otherwise)."""
    try:
        return call()
    except OSError as error:
        nbdkit.set_error(error.errno or errno.EIO)
        raise


def pread(h, buf, offset, flags):
    _engine_call(lambda: _device.readinto(offset, buf))


def pwrite(h, buf, offset, flags):
    if not h["writable"]:
        nbdkit.set_error(errno.EROFS)
        raise OSError(errno.EROFS, "the export is read-only")
    _engine_call(lambda: _device.write(offset, buf))
    if flags & nbdkit.FLAG_FUA:
        _engine_call(_device.flush)


def flush(h, flags):
    _engine_call(_device.flush)
