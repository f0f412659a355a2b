"""The app installs what it runs: `requirements.txt` lists what the app's modules import, and the app builds
and answers every endpoint without mlxtend (training and evaluation only: `requirements-train.txt`)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPORT_TO_REQUIREMENT = {"PIL": "pillow"}  # where the import name is not the package's name

# Build the app with mlxtend (and the scikit-learn it pulls in) unimportable, call each endpoint as a client
# would, and report the playground modules that ran.
APP_WITHOUT_TRAINING_PACKAGES = """
import json, sys
sys.modules["mlxtend"] = sys.modules["sklearn"] = None
sys.path.insert(0, ".")
import app  # noqa: F401
from playground.ui.app import build_app

demo, _ = build_app()
calls = {
    "timestep_embedding": (64, 10000, 0, 999, 50, "dit", "4"),
    "mlp_comparison": (3, 0),
    "cfg_sweep": (3, "0 4", 2, 0, 2, "ddim"),
}
answered = {}
for fn in demo.fns.values():
    if fn.api_name in calls:
        out = fn.fn(*calls[fn.api_name])
        answered[fn.api_name] = sum(value is not None for value in out)
playground = sorted(m.__file__ for name, m in sys.modules.items()
                    if m is not None and (name == "app" or name.startswith("playground")))
print(json.dumps({"answered": answered, "modules": playground}))
"""


def requirement_names(path):
    """Package names in a requirements file, lower case, without versions, markers or `-r` lines."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower())
    return names


def module_level_imports(path):
    """Top-level names imported by `path` outside functions (a function's own imports run only when called)."""
    names = set()

    def visit(node):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return names


def test_app_runs_without_the_training_packages_and_requirements_cover_its_imports():
    result = subprocess.run([sys.executable, "-c", APP_WITHOUT_TRAINING_PACKAGES], cwd=REPO, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report["answered"]) == {"timestep_embedding", "mlp_comparison", "cfg_sweep"}
    assert all(report["answered"].values())  # each gave outputs, not an error

    imported = set().union(*(module_level_imports(Path(file)) for file in report["modules"]))
    third_party = {name for name in imported - set(sys.stdlib_module_names) if name not in ("app", "playground")}
    required = {IMPORT_TO_REQUIREMENT.get(name, name).lower() for name in third_party}
    assert required == requirement_names(REPO / "requirements.txt")  # nothing missing, nothing extra


def test_training_requirements_are_apart_and_the_dev_install_includes_them():
    assert "mlxtend" not in requirement_names(REPO / "requirements.txt")
    assert "mlxtend" in requirement_names(REPO / "requirements-train.txt")
    includes = {line.strip() for line in (REPO / "requirements-dev.txt").read_text().splitlines()
                if line.startswith("-r")}
    assert includes == {"-r requirements.txt", "-r requirements-train.txt"}
