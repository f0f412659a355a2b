"""The process-wide settings of `playground/process.py`: importing the library applies none of them, the
programs apply them explicitly, their switches turn them off, and the C line splitter gives Python's lines."""

import ast
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.process import FAST_SOURCE_LINES_ENV, source_lines

REPO = Path(__file__).resolve().parent.parent
LINE_END_CASES = ["", "a", "a\n", "a\r\nb", "a\rb\n", "\r\n\r\n", "\r", "\n\r", "a\r\r\nb", "no end",
                  "form\x0cfeed\n\x0bvt\x1c\x1d\x1e\x85\u2028\u2029 are not line ends\r"]
ON_311 = sys.version_info[:2] == (3, 11)

# Run in a fresh interpreter before anything of ours: record every shared library ctypes loads and every mallopt
# call made through it, and keep the standard library's line splitter to compare with afterwards.
RECORDER = """
import ast, ctypes, json, sys
ORIGINAL_SPLITTER, LOADED, MALLOPT = ast._splitlines_no_ff, [], []
real_cdll = ctypes.CDLL

class RecordingCDLL(real_cdll):
    def __init__(self, name, *args, **kwargs):
        super().__init__(name, *args, **kwargs)
        LOADED.append(str(name))

    def __getattr__(self, name):
        fn = super().__getattr__(name)
        if name != "mallopt":
            return fn
        return lambda *args: MALLOPT.append(list(args)) or fn(*args)

ctypes.CDLL = RecordingCDLL

def state():
    return {"splitter": "original" if ast._splitlines_no_ff is ORIGINAL_SPLITTER else ast._splitlines_no_ff.__module__,
            "libraries": LOADED, "mallopt": MALLOPT}
"""


def run_python(code, timeout=300, **env):
    """The last stdout line, as JSON, of `code` run after RECORDER in a fresh interpreter with `env`."""
    env = {**{k: v for k, v in os.environ.items() if k != FAST_SOURCE_LINES_ENV}, **env}
    result = subprocess.run([sys.executable, "-c", RECORDER + code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def stdlib_ast():
    """A private copy of the standard library's `ast`, whatever this process did to its own."""
    spec = importlib.util.spec_from_file_location("ast_unpatched", ast.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_importing_every_playground_module_changes_nothing_in_the_process():
    code = """
import pkgutil, playground
names = sorted(m.name for m in pkgutil.walk_packages(playground.__path__, "playground."))
for name in names:
    __import__(name)
print(json.dumps({**state(), "modules": names}))
"""
    report = run_python(code)
    expected = {"playground.model", "playground.process", "playground.cli.sample", "playground.bench.bench"}
    assert expected <= set(report["modules"])
    assert report["splitter"] == "original"
    assert report["mallopt"] == [] and not [lib for lib in report["libraries"] if "libc" in lib]




@pytest.mark.parametrize(("switches", "splitter"), [
    ({}, "playground.process" if ON_311 else "original"),
    ({FAST_SOURCE_LINES_ENV: "1"}, "playground.process" if ON_311 else "original"),
    ({FAST_SOURCE_LINES_ENV: "0"}, "original"),
])
def test_app_applies_the_settings_before_gradio_and_the_switches_turn_them_off(switches, splitter):
    # app.main with the UI replaced by a stub that reports the process as the real UI would find it
    code = """
import types
ui = types.ModuleType("playground.ui.app")
ui.launch_app = lambda **kwargs: print(json.dumps({**state(), "gradio": "gradio" in sys.modules}))
sys.modules["playground.ui.app"] = ui
import app
app.main(["--port", "0"])
"""
    report = run_python(code, **switches)
    # glibc's malloc keeps its defaults (tuned thresholds lost on one CPU and tied on another)
    assert report["splitter"] == splitter and report["mallopt"] == [] and report["gradio"] is False


@pytest.mark.parametrize("module", ["playground.cli.sample", "playground.cli.evaluate"])
def test_command_lines_apply_the_settings(module, tmp_path):
    missing = tmp_path / "missing.safetensors"
    code = f"""
import {module} as cli
try:
    cli.main(["--weights", {str(missing)!r}, "--per-class" if cli.__name__.endswith("evaluate") else "--n", "2"])
except SystemExit as e:
    assert {str(missing)!r} in str(e), e
print(json.dumps(state()))
"""
    report = run_python(code)
    assert report["splitter"] == ("playground.process" if ON_311 else "original") and report["mallopt"] == []


def test_source_lines_match_pythons_own_splitter():
    split = stdlib_ast()._splitlines_no_ff
    spec = importlib.util.find_spec("gradio")
    texts = LINE_END_CASES + [path.read_text(encoding="utf-8") for path in Path(spec.origin).parent.rglob("*.py")]
    assert len(texts) > 100
    for text in texts:
        assert source_lines(text) == split(text), repr(text[:60])


def test_source_lines_give_the_same_segments_as_python():
    code = "x = 1\r\nclass A:\r    y = 2\x0c\n    z = (3,\n         4)\n"
    ours, theirs = stdlib_ast(), stdlib_ast()
    ours._splitlines_no_ff = source_lines
    tree = ast.parse(code)
    segments = [ours.get_source_segment(code, node) for node in ast.walk(tree)]
    assert segments == [theirs.get_source_segment(code, node) for node in ast.walk(tree)]
    assert "(3,\n         4)" in segments


def test_gradio_imports_unchanged_with_the_c_splitter():
    """gradio rewrites a component's type-stub file when its check disagrees: with our splitter none changes."""
    stubs = sorted(Path(importlib.util.find_spec("gradio").origin).parent.rglob("*.pyi"))
    before = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in stubs}
    code = """
from playground.process import apply_process_settings
apply_process_settings()
import gradio
print(json.dumps(state()))
"""
    assert run_python(code)["splitter"] == ("playground.process" if ON_311 else "original")
    assert len(stubs) > 50
    assert {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in stubs} == before
