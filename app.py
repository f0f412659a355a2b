"""DiT Playground: `python app.py [--host HOST] [--port PORT]` (also the Hugging Face Space entry point)."""

import argparse
import os

from playground.process import apply_process_settings, trim_freed_memory_periodically

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at runtime
# gradio summarises every finished event with pandas over up to 10,000 recorded ones, for a monitoring page this
# app does not show: under 50 visitors that summary took more CPU than the views. Record few, summarise rarely.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "200")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    # A Space sets GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; locally the defaults keep it on this machine.
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    # The process-wide settings (the C line splitter) are the program's to apply, not the library's on import;
    # before gradio is imported, since the line splitter speeds up that import. See playground/process.py.
    apply_process_settings()

    from playground.ui.app import launch_app  # imports gradio

    trim_freed_memory_periodically()  # a server's own setting, unlike those above: the command lines exit

    launch_app(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
