"""Where a cold start of the app goes, phase by phase, in one fresh process: `python scripts/cold_start_breakdown.py`.

Repeats what `app.py` does (process settings, imports, `ui.app.build_app`, launch, the first page) with a clock around
each phase, and splits the app's build into our pages and gradio's own work: gradio builds its FastAPI app when a
Blocks is created, when its `with` block closes, when `queue()` is called and again in `launch()`. Not run by CI;
`python -m playground.bench --parts launches` measures whole launches against the floor.
"""

import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main():
    clock, phases = time.perf_counter(), []

    def phase(name):
        nonlocal clock
        now = time.perf_counter()
        phases.append((name, now - clock))
        clock = now

    from playground.process import apply_process_settings

    apply_process_settings()
    import gradio as gr
    import torch  # noqa: F401

    phase("process settings, import gradio and torch (the floor)")
    from playground.bench.launch import free_port
    from playground.ui import app, serving, turns

    phase("import playground.ui (views, plots)")
    model, model_error = serving.get_model()
    serving.get_judge()
    phase("load the model and the judge (safetensors)")
    demo = gr.Blocks(title="DiT Playground", fill_width=True)
    phase("gr.Blocks(): gradio builds its app (1st time)")
    with demo:
        app.build_chapters(demo, demo.load, model, model_error)
        phase("our chapters and pages: components and events")
    phase("closing the Blocks: gradio builds its config and app (2nd time)")
    demo.queue(max_size=turns.QUEUE_MAX_SIZE, default_concurrency_limit=turns.VIEW_CONCURRENCY)
    phase("demo.queue(): gradio builds its app (3rd time)")
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, **app.LAUNCH_KWARGS)
    phase("launch(): gradio builds its app (4th time), starts the server")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
        assert response.status == 200
    phase("the first page")
    demo.close()
    total = sum(seconds for _, seconds in phases)
    print("| phase | seconds |\n|---|---:|")
    print("\n".join(f"| {name} | {seconds:.2f} |" for name, seconds in phases))
    print(f"| total, in process (no interpreter start) | {total:.2f} |")
    print(f"| above the floor | {total - phases[0][1]:.2f} |")


if __name__ == "__main__":
    main()
