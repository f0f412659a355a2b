"""Run the real app (`python app.py --port N`) in a subprocess for the client and browser tests."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 180


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(log_path, env=None):
    """Start app.py on a free local port (extra `env` variables set); yield its URL; stop it (only this process)."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
    env.pop("GRADIO_SERVER_NAME", None)
    env.pop("GRADIO_SERVER_PORT", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app.py exited with {proc.returncode}:\n{Path(log_path).read_text()}")
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"app.py did not answer within {STARTUP_TIMEOUT_S} s:\n{Path(log_path).read_text()}"
                    )
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def wait_for_openings(log_path, timeout=300):
    """Wait until the app at `log_path` has computed its tab openings (the line it prints); return that line. A
    measurement taken before would time the warm-up's sampling as well."""
    from playground.ui.shared import OPENINGS_READY

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path(log_path).read_text().splitlines():
            if OPENINGS_READY in line:
                return line
        time.sleep(0.2)
    raise RuntimeError(f"the app did not print {OPENINGS_READY!r} within {timeout} s")


def server_process(url):
    """The app.py process serving `url` (a psutil.Process): a child of this process with its port on the command
    line."""
    import psutil

    port = str(urlparse(url).port)
    return next(p for p in psutil.Process().children() if port in p.cmdline())
