"""Docstring coverage of spikebit's public API (classes, functions, methods).

Public: defined in a ``spikebit`` module whose path has no ``_``-prefixed part, with a
name that does not start with ``_``; methods of public classes defined in the class
itself (properties included). Prints the share documented, per package and overall;
``--json`` prints the undocumented names too.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import sys
from collections import Counter

import spikebit


def public_api() -> list[tuple[str, object]]:
    """``(qualified name, object)`` of every public class, function and method."""
    out: list[tuple[str, object]] = []
    for info in pkgutil.walk_packages(spikebit.__path__, "spikebit."):
        if any(part.startswith("_") for part in info.name.split(".")) or ".configs" in info.name:
            continue
        try:
            mod = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - optional dependencies
            continue
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                out.append((f"{mod.__name__}.{name}", obj))
            elif inspect.isclass(obj):
                out.append((f"{mod.__name__}.{name}", obj))
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    fn = member.fget if isinstance(member, property) else member
                    if isinstance(fn, (staticmethod, classmethod)):
                        fn = fn.__func__
                    if inspect.isfunction(fn):
                        out.append((f"{mod.__name__}.{name}.{attr}", fn))
    return out


def undocumented_params(obj: object) -> list[str]:
    """Parameters of ``obj`` (a function, or a class's ``__init__``) that its docstring
    (the class docstring for classes) never names."""
    fn = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    if inspect.isclass(obj) and "__init__" not in vars(obj):
        return []  # inherits its constructor: documented where it is defined
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return []
    doc = (obj.__doc__ or "") + ((fn.__doc__ or "") if inspect.isclass(obj) else "")
    return [p for p in params if p not in ("self", "cls") and not p.startswith("_")
            and params[p].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                        inspect.Parameter.VAR_KEYWORD)
            and p not in doc]


def is_documented(obj: object) -> bool:
    """A docstring of its own that names every parameter."""
    own = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    return bool((own or "").strip()) and not undocumented_params(obj)


def main() -> int:
    api = public_api()
    missing = [n for n, o in api if not is_documented(o)]
    total, per_pkg, miss_pkg = len(api), Counter(), Counter()
    for n, _ in api:
        per_pkg[".".join(n.split(".")[:2])] += 1
    for n in missing:
        miss_pkg[".".join(n.split(".")[:2])] += 1
    report = {"total": total, "documented": total - len(missing),
              "coverage": round((total - len(missing)) / max(total, 1), 4),
              "per_package": {p: round(1 - miss_pkg[p] / c, 3) for p, c in sorted(per_pkg.items())}}
    if "--json" in sys.argv:
        report["missing"] = missing
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['documented']}/{total} public names documented "
              f"({100 * report['coverage']:.1f}%)")
        for p, c in report["per_package"].items():
            print(f"  {p:32s} {100 * c:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
