"""Screenshots of every tab at 1280x720 for the README: `python scripts/screenshots.py [--out docs/screenshots]`.

Launches the app as the README does (`python app.py`), opens each tab in headless Chromium (Debian's
`/usr/bin/chromium`, driven by playwright), waits until the tab shows its result, and saves the first screen.
Not part of the test suite (tests/test_browser.py checks the same pages).
"""

import argparse
import re
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]
from live_app import REPO, running_app, wait_for_openings  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TABS = [  # (tab name, file name, a selector that appears once the tab shows its result)
    ("Timestep embedding", "1_timestep_embedding", ".js-plotly-plot"),
    ("With vs without the MLP", "2_mlp", ".js-plotly-plot"),
    ("Inside the DiT", "3_inside_the_dit", ".js-plotly-plot"),
    ("Classifier-free guidance", "4_cfg", "#cfg-grid img"),
    ("Guidance lab", "5_guidance_lab", "#lab-grid img"),
    ("Why label dropout", "6_label_dropout", "#dropout-grid img"),
    ("Classifier guidance", "7_classifier_guidance", "#cg-grid img"),
    ("The model", "8_model", ".js-plotly-plot"),
]


def open_tab(page, name):
    tab = page.get_by_role("tab", name=re.compile(name))
    if tab.count():
        tab.first.click()
        return
    page.get_by_role("button", name="More tabs").click()
    page.locator(".overflow-dropdown button", has_text=re.compile(name)).click()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    with running_app(out / "app.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("tab").first.wait_for(timeout=180_000)
        print(wait_for_openings(out / "app.log"), flush=True)  # visit the tabs as a visitor after the warm-up would
        for name, file_name, ready in TABS:
            t0 = time.perf_counter()
            open_tab(page, name)
            page.locator(f"{ready}:visible").first.wait_for(timeout=180_000)
            shown = time.perf_counter() - t0
            page.wait_for_timeout(1500)  # let plotly finish drawing
            page.screenshot(path=str(out / f"{file_name}.png"))
            print(f"{name}: {shown * 1000:.0f} ms from click to its result -> {file_name}.png", flush=True)
        browser.close()
    (out / "app.log").unlink()


if __name__ == "__main__":
    main()
