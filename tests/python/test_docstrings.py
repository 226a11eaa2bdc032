"""Every public name of the Python package has a docstring: each public module, and in it each
class, function, method and property the package defines (the engine's classes carry the bindings'
own docs; constants and dataclass fields are documented by their comments)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Iterator, Tuple

import bootmirror


def public_modules() -> Iterator[str]:
    yield "bootmirror"
    for info in pkgutil.iter_modules(bootmirror.__path__):
        if not info.name.startswith("_"):
            yield f"bootmirror.{info.name}"


def _ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.startswith("bootmirror") and not module.startswith("bootmirror._core")


def _public_names(module) -> Iterator[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    yield from names


def undocumented() -> Iterator[Tuple[str, str]]:
    seen = set()  # a class re-exported (bootmirror.Disk is bootmirror.disk.Disk) is checked once
    for name in public_modules():
        module = importlib.import_module(name)
        if not (module.__doc__ or "").strip():
            yield name, "module"
        for attr in _public_names(module):
            obj = getattr(module, attr)
            if inspect.ismodule(obj) or not (inspect.isclass(obj) or inspect.isfunction(obj)) or not _ours(obj):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            where = f"{name}.{attr}"
            if not (obj.__doc__ or "").strip():
                yield where, "no docstring"
            if inspect.isclass(obj):
                yield from _members(obj, where)


def _members(cls: type, where: str) -> Iterator[Tuple[str, str]]:
    fields = set(getattr(cls, "__dataclass_fields__", {}))
    for attr, member in vars(cls).items():
        if attr.startswith("_") or attr in fields:
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            doc = member.__doc__ or (member.fget.__doc__ if member.fget is not None else None)
        elif inspect.isfunction(member):
            doc = inspect.getdoc(getattr(cls, attr))  # an override keeps its base's documentation
        else:
            continue
        if not (doc or "").strip():
            yield f"{where}.{attr}", "no docstring"


def test_every_public_name_has_a_docstring():
    assert sorted(undocumented()) == []
