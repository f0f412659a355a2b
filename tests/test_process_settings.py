"""The two process-wide speed settings in `playground/__init__.py`: what they change, and their switches."""

import ast
import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground import FAST_SOURCE_LINES_ENV, source_lines

REPO = Path(__file__).resolve().parent.parent
LINE_END_CASES = ["", "a", "a\n", "a\r\nb", "a\rb\n", "\r\n\r\n", "\r", "\n\r", "a\r\r\nb", "no end",
                  "form\x0cfeed\n\x0bvt\x1c\x1d\x1e\x85\u2028\u2029 are not line ends\r"]


def stdlib_ast():
    """A private copy of the standard library's `ast`, untouched by `import playground`."""
    spec = importlib.util.spec_from_file_location("ast_unpatched", ast.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gradio_sources():
    spec = importlib.util.find_spec("gradio")
    return sorted(Path(spec.origin).parent.rglob("*.py"))


def test_source_lines_match_pythons_own_splitter():
    split = stdlib_ast()._splitlines_no_ff
    texts = LINE_END_CASES + [path.read_text(encoding="utf-8") for path in gradio_sources()]
    assert len(texts) > 100
    for text in texts:
        assert source_lines(text) == split(text), repr(text[:60])


def test_source_lines_give_the_same_segments_as_python():
    code = "x = 1\r\nclass A:\r    y = 2\x0c\n    z = (3,\n         4)\n"
    ours = ast.parse(code)
    theirs = stdlib_ast()
    for node in ast.walk(ours):
        assert ast.get_source_segment(code, node) == theirs.get_source_segment(code, node)


def splitter_after_import(switch):
    env = {k: v for k, v in os.environ.items() if k != FAST_SOURCE_LINES_ENV}
    if switch is not None:
        env[FAST_SOURCE_LINES_ENV] = switch
    code = "import ast, playground; print(ast._splitlines_no_ff is playground.source_lines)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="only Python 3.11 gets the C line splitter")
def test_switch_turns_the_line_splitter_off():
    assert splitter_after_import(None) == "True"
    assert splitter_after_import("1") == "True"
    assert splitter_after_import("0") == "False"


def test_playground_package_imports_neither_torch_nor_gradio():
    """The settings must act before torch and gradio load, so `import playground` must not load them."""
    code = "import sys, playground; print(sorted({'torch', 'gradio'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_gradio_imports_unchanged_with_the_c_splitter():
    """gradio rewrites a component's type-stub file when its check disagrees: with our splitter none changes."""
    stubs = sorted(Path(importlib.util.find_spec("gradio").origin).parent.rglob("*.pyi"))
    before = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in stubs}
    code = "import ast, playground, gradio; print(ast._splitlines_no_ff is playground.source_lines)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            check=True)
    assert result.stdout.strip() == str(sys.version_info[:2] == (3, 11))
    assert len(stubs) > 50
    assert {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in stubs} == before
