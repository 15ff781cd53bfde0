"""The layers go one way: CLI -> realtime.jobs -> realtime -> models (docs/design.md section 1).
Read with `ast` from every module's source, so lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Layer of each module prefix, lowest first; a module may import its own layer or lower.
LAYERS = ["models", "realtime", "realtime.jobs", "stylize_video"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of the project's own modules that `module` imports, anywhere in its
    source (inside functions too), relative imports resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in ("models", "realtime", "stylize_video")}


def _imports_of(path: Path) -> set[str]:
    return _imports(path.read_text(), _module_name(path), path.name == "__init__.py")


def _layer(module: str) -> int:
    return max(i for i, prefix in enumerate(LAYERS) if (module + ".").startswith(prefix + "."))


def _product_modules() -> dict[str, Path]:
    files = [ROOT / "stylize_video.py", *(ROOT / "models").rglob("*.py")]
    files += (ROOT / "realtime").rglob("*.py")
    return {_module_name(p): p for p in files}


def test_the_walker_catches_lazy_and_relative_upward_imports() -> None:
    src = "import numpy\ndef f():\n    from realtime.jobs import video\nfrom . import cache\n"
    found = _imports(src, "models.stylizer")
    assert found == {"realtime.jobs", "realtime.jobs.video", "models", "models.cache"}
    assert _layer("realtime.jobs.video") > _layer("models.stylizer")
    assert _imports("from .flow import warp\n", "realtime.temporal") >= {"realtime.flow"}


def test_no_module_imports_a_higher_layer() -> None:
    modules = _product_modules()
    assert "models.stylizer" in modules and "realtime.jobs.video" in modules
    upward = [
        f"{name} imports {imp}"
        for name, path in modules.items()
        for imp in sorted(_imports_of(path))
        if _layer(imp) > _layer(name)
    ]
    assert upward == []


def test_models_imports_nothing_from_realtime() -> None:
    modules = _product_modules()
    bad = [
        f"{name} imports {imp}"
        for name, path in modules.items()
        if name.startswith("models")
        for imp in _imports_of(path)
        if imp.startswith("realtime")
    ]
    assert bad == []


def test_no_import_circle_between_product_modules() -> None:
    modules = _product_modules()
    graph = {
        name: {m for m in _imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # a package's __init__ is imported by its submodules implicitly: not an edge here
    seen: dict[str, int] = {}  # 1 = on the stack, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in seen:
                visit(nxt, [*stack, nxt])
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name, [name])
    assert cycles == []
