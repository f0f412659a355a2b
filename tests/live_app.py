"""Run the real app (`python app.py --port N`) in a subprocess for the client and browser tests."""

import contextlib
import time
from pathlib import Path
from urllib.parse import urlparse

from playground.bench.launch import launched_app

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 180


@contextlib.contextmanager
def running_app(log_path, env=None):
    """Start app.py on a free local port (extra `env` variables set, output in `log_path`); yield its URL; stop it
    (only this process). The launcher is the bench's, which times cold starts the same way."""
    with launched_app(timeout=STARTUP_TIMEOUT_S, log_path=log_path, **(env or {})) as (url, _, _):
        yield url


def wait_for_openings(log_path, timeout=300):
    """Wait until the app at `log_path` has computed its page openings (the line it prints); return that line. A
    measurement taken before would time the warm-up's sampling as well."""
    from playground.ui.openings import OPENINGS_READY

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
