"""A tiny name -> factory registry filled by decorators (no hand-kept lists)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from spikebit.errors import RegistryError, did_you_mean

T = TypeVar("T")


def import_submodules(package: str) -> None:
    """Import every module under ``package`` (so their decorators register)."""
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        importlib.import_module(info.name)


class Registry(Generic[T]):
    """Maps names to objects; ``@registry.register("name")`` adds one.

    ``discover`` names packages whose modules are imported on the first lookup,
    so entries defined anywhere in them are found without a hand-kept list.
    """

    def __init__(self, kind: str, discover: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._discover = discover
        self._discovered = not discover

    def _load(self) -> None:
        if not self._discovered:
            self._discovered = True
            for package in self._discover:
                import_submodules(package)

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self._items)} "
                f"Known {self.kind}s: {known}."
            ) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)
