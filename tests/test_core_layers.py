"""The one rule that must never break: the engine never imports the UI."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0 and node.module and node.module.startswith("ui"):
            names.add("ganlab.ui")
    return names


def test_engine_never_imports_streamlit_or_plotly():
    """Only ganlab/ui may import streamlit; only ganlab/ui and ganlab/plots.py may import plotly."""
    offenders = []
    for path in (ROOT / "ganlab").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        names = _imports(path)
        in_ui = rel.startswith("ganlab/ui/")
        if "streamlit" in names and not in_ui:
            offenders.append(f"{rel} imports streamlit")
        if "plotly" in names and not (in_ui or rel == "ganlab/plots.py"):
            offenders.append(f"{rel} imports plotly")
        if "ganlab.ui" in names and not in_ui:
            offenders.append(f"{rel} imports ganlab.ui")
    assert offenders == []


def test_import_train_pulls_in_no_ui():
    """A GPU box may have neither plotly nor streamlit: `import ganlab.train` must not need them."""
    code = "import sys, ganlab.train, ganlab.jobs, ganlab.cli; print([m for m in ('streamlit', 'plotly') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pages_define_no_classes():
    """A page's classes are redefined on every rerun, which breaks isinstance on session state."""
    pages = list((ROOT / "views").glob("*.py")) + [ROOT / "app.py"]
    for path in pages:
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)], path.name
