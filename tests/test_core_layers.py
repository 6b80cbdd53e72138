"""The house rules: each layer imports only the layers below it, no import circle, the UI stays on top.

Every import counts, the lazy ones inside functions too: a lazy import that closes a circle
or reaches up a layer is the same dependency, only hidden.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# lowest first; a module may import its own layer and the layers below (the README draws the same)
LAYERS = (
    ("basics", ("ganlab", "ganlab.errors", "ganlab.registry", "ganlab.paths")),
    ("pieces", ("ganlab.config", "ganlab.data", "ganlab.models", "ganlab.game")),
    ("training", ("ganlab.training", "ganlab.train")),  # ganlab.train: the old import path, re-exports only
    ("results", ("ganlab.store", "ganlab.evaluation", "ganlab.explore")),
    ("drivers", ("ganlab.session", "ganlab.jobs", "ganlab.ddp", "ganlab.cli", "ganlab.__main__", "ganlab.sweeps")),
    ("viz", ("ganlab.viz",)),
    ("ui", ("ganlab.ui",)),
)
UI_ONLY = {"streamlit": ("ganlab.ui",), "plotly": ("ganlab.viz", "ganlab.ui")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in (ROOT / "ganlab").rglob("*.py")}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    pkg = importer if MODULES[importer].name == "__init__.py" else importer.rsplit(".", 1)[0]
    base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
    return f"{base}.{node.module}" if node.module else base


def _imports(name: str) -> set[str]:
    """Every module `name` imports anywhere in its file (ganlab modules resolved to their file)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(name, node)
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
            out |= subs or {mod}
            if len(subs) < len(node.names):
                out.add(mod)
    return out


def _layer(module: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if module == p or (p != "ganlab" and module.startswith(p + ".")):
                best = i
    assert best is not None, f"{module} is in no layer: add it to LAYERS (and to the README's map)"
    return best


def _graph() -> dict[str, set[str]]:
    return {m: {i for i in _imports(m) if i in MODULES and i != m} for m in MODULES}


def test_every_module_has_a_layer():
    for m in MODULES:
        _layer(m)


def test_each_layer_imports_only_the_layers_below_it():
    offenders = []
    for m, deps in _graph().items():
        for d in deps:
            if _layer(d) > _layer(m):
                offenders.append(f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})")
    assert offenders == []


def test_only_the_ui_imports_streamlit_and_only_viz_and_ui_import_plotly():
    offenders = []
    for m in MODULES:
        for lib, allowed in UI_ONLY.items():
            uses = any(i == lib or i.startswith(lib + ".") for i in _imports(m))
            if uses and not any(m == a or m.startswith(a + ".") for a in allowed):
                offenders.append(f"{m} imports {lib}")
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, str] = {}
    cycles: list[str] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(" -> ".join(path[path.index(d):] + [m, d]) if d in path else f"{m} -> {d}")
            elif d not in state:
                visit(d, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return cycles


def test_there_is_no_import_circle_lazy_imports_included():
    assert _cycles(_graph()) == []


def test_the_layer_test_sees_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks above can fail: a planted lazy upward import is caught by both."""
    planted = dict(MODULES)
    fake = tmp_path / "ganlab" / "game" / "planted.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from ganlab.session import RunSession\n    return RunSession\n")
    planted["ganlab.game.planted"] = fake
    monkeypatch.setattr(sys.modules[__name__], "MODULES", planted)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    deps = _graph()["ganlab.game.planted"]
    assert "ganlab.session" in deps and _layer("ganlab.session") > _layer("ganlab.game.planted")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) and not _cycles({"a": {"b"}, "b": set()})


def test_import_training_pulls_in_no_ui():
    """A GPU box may have neither plotly nor streamlit: the engine and its drivers must not need them."""
    code = ("import sys, ganlab.training, ganlab.session, ganlab.jobs, ganlab.cli; "
            "print([m for m in ('streamlit', 'plotly') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pages_define_no_classes():
    """A page's classes are redefined on every rerun, which breaks isinstance on session state."""
    pages = list((ROOT / "views").glob("*.py")) + [ROOT / "app.py"]
    for path in pages:
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)], path.name

