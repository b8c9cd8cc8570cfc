"""A tiny name -> factory registry filled by decorators (no hand-kept lists).

One discovery rule for every registry: when a name is not registered yet, the
registry imports (once per process) every module under ``spikebit.methods``, every
third-party plugin declared in the entry-point group ``spikebit.plugins`` and the
registry's own ``discover`` packages, then looks again. A module or plugin that fails
to import is skipped and recorded: it does not break lookups of other names, and a
failed lookup names it with its error. Local modules (a run config's ``imports:``
list) are imported with :func:`import_plugins`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from spikebit.errors import ConfigError, RegistryError, SpikebitError, did_you_mean

T = TypeVar("T")

PLUGIN_GROUP = "spikebit.plugins"
"""Entry-point group of third-party packages: each entry point names a module (or a
callable, called once without arguments) that registers neurons, quantizers, models,
callbacks, losses, experiments, ..."""

METHODS_PACKAGE = "spikebit.methods"

_imported: set[str] = set()
_registries: list[Registry] = []
_failures: dict[str, str] = {}  # what failed to import -> "ExcType: message"
_plugins_loaded = False


def _record(what: str, err: BaseException) -> None:
    _failures[what] = f"{type(err).__name__}: {err}"


def import_submodules(package: str) -> None:
    """Import every module under ``package`` (so their decorators register).

    A module that fails to import is recorded (see :func:`discovery_failures`) and
    skipped; the others are still imported. Each package is imported once per process
    (until :func:`rediscover`).

    Args:
        package: dotted package name, e.g. ``"spikebit.methods"``.
    """
    if package in _imported:
        return
    _imported.add(package)
    try:
        pkg = importlib.import_module(package)
    except Exception as err:  # noqa: BLE001 - recorded and reported on lookup
        _record(package, err)
        return
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.",
                                      onerror=lambda name: _failures.setdefault(
                                          name, "ImportError: package failed to import")):
        try:
            importlib.import_module(info.name)
        except Exception as err:  # noqa: BLE001
            _record(info.name, err)


def load_entry_points() -> None:
    """Load every entry point of the group ``spikebit.plugins`` once (failures recorded)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, type):
                obj()
        except Exception as err:  # noqa: BLE001
            _record(f"plugin {ep.name!r} ({ep.value})", err)


def discover(extra: Iterable[str] = ()) -> None:
    """The one discovery rule: ``spikebit.methods``, entry-point plugins, then ``extra``.

    Args:
        extra: further packages whose modules are imported (a registry's ``discover``).
    """
    import_submodules(METHODS_PACKAGE)
    load_entry_points()
    for package in extra:
        import_submodules(package)


def rediscover() -> None:
    """Forget what discovery did, so the next miss imports packages and plugins again
    (e.g. after installing a plugin package in a running session)."""
    global _plugins_loaded
    _plugins_loaded = False
    _imported.clear()
    _failures.clear()
    for registry in _registries:
        registry._discovered = False


def discovery_failures() -> dict[str, str]:
    """Modules and plugins that failed to import during discovery, with their errors."""
    return dict(_failures)


def import_plugins(modules: Iterable[str], base: str | Path | None = None) -> None:
    """Import local modules named in a run config's ``imports:`` list.

    Each entry is a module name (``mypkg.neurons``, found on ``sys.path`` or in ``base``)
    or a path to a ``.py`` file (relative to ``base``, default the working directory).

    Args:
        modules: module names or ``.py`` paths.
        base: folder for relative paths and module search (default: the working
            directory, added to ``sys.path`` for module names).

    Raises:
        ConfigError: naming the entry and its error when one cannot be imported.
    """
    root = Path(base) if base is not None else Path.cwd()
    for entry in modules:
        try:
            if entry.endswith(".py") or "/" in entry:
                path = Path(entry) if Path(entry).is_absolute() else root / entry
                name = f"spikebit_local_{path.stem}"
                if name in sys.modules:
                    continue
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None or not path.is_file():
                    raise FileNotFoundError(f"no Python file at {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
            else:
                if str(root) not in sys.path:
                    sys.path.insert(0, str(root))
                importlib.import_module(entry)
        except Exception as err:
            raise ConfigError(
                f"imports: cannot import {entry!r} ({type(err).__name__}: {err}); give a "
                "module name importable from the working directory or a path to a .py file"
            ) from err


def build_component(factory: Callable[..., Any], args: dict[str, Any], what: str) -> Any:
    """``factory(**args)``; a value the component refuses becomes a :class:`ConfigError`
    naming ``what`` (e.g. ``"model 'albsnn-mnist'"``).

    Args:
        factory: the component's class or factory function (a registry entry).
        args: keyword arguments for it.
        what: names the component in messages.

    Returns:
        ``factory(**args)``.

    Raises:
        ConfigError: the factory raised ``TypeError``, ``ValueError``,
            ``OverflowError``, ``RuntimeError`` or ``MemoryError``
            (a :class:`~spikebit.errors.SpikebitError` passes through unchanged).
    """
    try:
        return factory(**args)
    except SpikebitError:
        raise
    except (TypeError, ValueError, OverflowError, RuntimeError, MemoryError) as exc:
        raise ConfigError(
            f"{what} refused its arguments {args!r}: {type(exc).__name__}: {exc}"
        ) from None


class Registry(Generic[T]):
    """Maps names to objects of one ``kind`` (used in messages); ``@registry.register("name")``
    adds one.

    A lookup of an unknown name runs :func:`discover` (``spikebit.methods``, the
    ``spikebit.plugins`` entry points, and this registry's ``discover`` packages)
    once, so entries defined anywhere in them are found without a hand-kept list.

    Args:
        kind: what the entries are (``"neuron"``, ``"quantizer"``, ...), used in messages.
        discover: extra packages imported on the first miss, after ``spikebit.methods``
            and the plugins.
    """

    def __init__(self, kind: str, discover: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._discover = discover
        self._discovered = False
        _registries.append(self)

    def _load(self) -> None:
        if not self._discovered:
            self._discovered = True
            discover(self._discover)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding its target under ``name`` (RegistryError if taken).

        Args:
            name: the registry name.

        Returns:
            A decorator that registers its argument and returns it unchanged.

        Raises:
            RegistryError: (when the decorator is applied) ``name`` is already registered.
        """

        def add(obj: T) -> T:
            if name in self._items:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add

    def remove(self, name: str) -> T:
        """Unregister ``name`` (returns its entry); raises RegistryError if absent.

        Args:
            name: the registry name.

        Returns:
            The removed entry.

        Raises:
            RegistryError: ``name`` is not registered.
        """
        if name not in self._items:
            raise RegistryError(f"{self.kind} {name!r} is not registered")
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """The entry ``name``; after discovery, a RegistryError naming the nearest names
        and any plugin that failed to import.

        Args:
            name: the registry name.

        Returns:
            The registered object.

        Raises:
            RegistryError: ``name`` is unknown after discovery.
        """
        if name not in self._items:
            self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            failed = discovery_failures()
            hint = ""
            if failed:
                hint = " These failed to import and may define it: " + "; ".join(
                    f"{k} ({v})" for k, v in sorted(failed.items())) + "."
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self._items)} "
                f"Known {self.kind}s: {known}.{hint}"
            ) from None

    def names(self) -> list[str]:
        """Every registered name (after discovery), sorted."""
        self._load()
        return sorted(self._items)

    def registered(self) -> list[str]:
        """The names registered so far, sorted, without running discovery.

        For code that runs while a module is imported: :meth:`names` would import every
        method package and plugin (their experiment modules included) from there.

        Returns:
            The sorted names present now.
        """
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
