"""Screenshots of every page at 1280x720 for the README: `python scripts/screenshots.py [--out docs/screenshots]`.

Launches the app as the README does (`python app.py`), opens each page of each chapter in headless Chromium
(Debian's `/usr/bin/chromium`, driven by playwright), waits until the page shows its result, and saves the first
screen as `<chapter>_<page>.png`.
Not part of the test suite (tests/test_browser.py checks the same pages).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]
from live_app import REPO, running_app, wait_for_openings  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from playground.chapters import CHAPTERS  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
READY = {  # page id -> a selector that appears once the page shows its result
    "decided": "#counterfactual-grid img", "cfg": "#cfg-grid img", "variants": "#lab-grid img",
    "dropout": "#dropout-grid img", "classifier": "#cg-grid img",
}


def open_page(page, chapter, shown):
    page.get_by_role("tab", name=chapter.label, exact=True).click()
    page.get_by_role("tab", name=shown.label, exact=True).filter(visible=True).click()


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
        print(wait_for_openings(out / "app.log"), flush=True)  # visit the pages as a visitor after the warm-up would
        for chapter in CHAPTERS:
            for shown in chapter.pages:
                t0 = time.perf_counter()
                open_page(page, chapter, shown)
                page.locator(f"{READY.get(shown.id, '.js-plotly-plot')}:visible").first.wait_for(timeout=180_000)
                seconds = time.perf_counter() - t0
                page.wait_for_timeout(1500)  # let plotly finish drawing
                file_name = f"{chapter.id}_{shown.id}.png"
                page.screenshot(path=str(out / file_name))
                print(f"{chapter.label} / {shown.label}: {seconds * 1000:.0f} ms from click to its result -> "
                      f"{file_name}", flush=True)
        browser.close()
    (out / "app.log").unlink()


if __name__ == "__main__":
    main()
