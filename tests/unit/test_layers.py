"""The kit's layers, read from the import statements of its source (nothing is imported).

``exitkit`` is the pure side: settings, plan, configs, checks, all testable and
usable by ``exitkit render``/``check`` without pyinfra. ``deploys`` turns it into
pyinfra operations. Keeping pyinfra and gevent out of ``exitkit`` and imports
free of cycles keeps that split real. Imports inside functions count too: a
late import hides a cycle from Python's loader, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("exitkit", "deploys")
RUN_TIME_ONLY = ("pyinfra", "gevent")  # the deploy side's libraries


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the kit's packages (subpackages included)."""
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


MODULES = source_modules()


def imported_names(path: Path) -> set[str]:
    """Every module a file imports anywhere in it (top level, functions, conditionals), as absolute names.

    ``from package import name`` counts as importing ``package.name`` when that is
    one of the kit's modules, else as importing ``package``.
    """
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


IMPORTS = {name: imported_names(path) for name, path in MODULES.items()}


def top_level(name: str) -> str:
    return name.split(".")[0]


def import_cycles() -> list[list[str]]:
    """Each group of the kit's modules that import each other (directly or round about), Tarjan's algorithm."""
    edges = {name: sorted(target for target in IMPORTS[name] if target in MODULES and target != name)
             for name in MODULES}
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = lowest[name] = len(index)
        stack.append(name)
        for target in edges[name]:
            if target not in index:
                visit(target)
                lowest[name] = min(lowest[name], lowest[target])
            elif target in stack:
                lowest[name] = min(lowest[name], index[target])
        if lowest[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for name in MODULES:
        if name not in index:
            visit(name)
    return cycles


def test_the_reader_finds_the_kit_s_modules_and_their_imports():
    """Guards the other tests against passing on an empty or misread source tree."""
    assert {"exitkit.fleet", "exitkit.plan", "exitkit.tor", "deploys.ops", "deploys.tor"} <= MODULES.keys()
    assert "pyinfra.api" in IMPORTS["deploys.ops"] and "exitkit.control" in IMPORTS["deploys.ops"]
    assert "exitkit.configs" in IMPORTS["exitkit.cli"], "an import inside a function must be seen"


def test_no_module_imports_itself_round_about():
    assert import_cycles() == []


def test_the_pure_side_never_imports_pyinfra_or_gevent():
    """exitkit's lab code (localfleet, a future exitkit/lab/) runs pyinfra's command line and needs no import."""
    wrong = {name: sorted(target for target in imports if top_level(target) in RUN_TIME_ONLY)
             for name, imports in IMPORTS.items() if top_level(name) == "exitkit"}
    assert {name: targets for name, targets in wrong.items() if targets} == {}


def test_the_pure_side_never_imports_the_deploys_or_the_tests():
    wrong = {name: sorted(target for target in imports if top_level(target) in ("deploys", "tests"))
             for name, imports in IMPORTS.items() if top_level(name) == "exitkit"}
    assert {name: targets for name, targets in wrong.items() if targets} == {}
