"""The real app, launched as a person starts it, for the benchmark, the load test, the scripts and the tests."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py lives here


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launched_app(timeout=120, log_path=None, **env):
    """`python app.py` on a free local port (environment plus `env`), as a person starts it, its output written to
    `log_path` (discarded without one). Yields (url, pid, seconds until its page first answered HTTP 200); stops it
    on exit. A launch that exits or does not answer within `timeout` s raises, with the log."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **({"PYTHONUNBUFFERED": "1"} if log_path else {}),
           **env}
    for pinned in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):  # the command line below names host and port
        env.pop(pinned, None)
    url = f"http://127.0.0.1:{port}/"
    with open(log_path or os.devnull, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                if time.perf_counter() - t0 > timeout or proc.poll() is not None:
                    output = Path(log_path).read_text() if log_path else "(output not kept)"
                    raise RuntimeError(f"app.py did not answer within {timeout} s (exit code {proc.poll()}):\n{output}")
                try:
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
            yield url, proc.pid, time.perf_counter() - t0
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
