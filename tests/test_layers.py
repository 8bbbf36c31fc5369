"""The package's floors: no module imports one that imports it back, and the lower floors never look up."""

import ast
from pathlib import Path

import helpers

PACKAGE = Path(helpers.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every ``helpers`` module and the ``helpers`` modules it imports, anywhere in its body."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    packages = {name for name in graph if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()}
    # A package's __init__ gathering its own submodules is not a cycle of concerns; everything else is.
    plain = {name: {t for t in targets if t not in packages} for name, targets in graph.items()}
    cycles = sorted(name for name in plain if name in _reaches(plain, name))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_lower_floors_never_import_higher_ones():
    graph = _imports()
    ground = ("helpers.lm", "helpers.batching", "helpers.modes", "helpers.sandbox", "helpers.data")
    for name in ground:
        upward = {t for t in _reaches(graph, name) if t.startswith(("helpers.evals", "helpers.train", "helpers.ppo"))}
        assert not upward, f"{name} reaches {sorted(upward)}"
    synth = [name for name in graph if name.startswith("helpers.synth")]
    for name in synth:
        assert not any(t.startswith("helpers.evals") for t in _reaches(graph, name)), f"{name} reaches helpers.evals"
