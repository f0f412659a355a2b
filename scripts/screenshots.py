"""Screenshots of every page at 1280x720, and what its first screen holds: `python scripts/screenshots.py
[--out docs/screenshots]`.

Launches the app as the README does (`python app.py`), opens each page of each chapter in headless Chromium
(Debian's `/usr/bin/chromium`, driven by playwright), waits until the page shows its result, saves the first
screen as `<chapter>_<page>.png`, and prints a table, per page: words of prose (markdown) in the first screen,
the share of the first screen its largest picture (a plot or an image) covers, seconds from the click to the
first picture, the page's height in screens, and the elements wider than their visible box (clipped or
spilling out). Then it measures presenter mode (figure text, digit cells) and checks that a deep link
(`/?tab=ID`) opens each page on its picture.
Not part of the test suite (tests/test_browser.py checks the same pages).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]
from live_app import REPO, running_app, wait_for_openings  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from playground.chapters import CHAPTERS  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 720}
READY = {  # page id -> a selector that appears once the page shows its result
    "decided": "#counterfactual-grid img", "cfg": "#cfg-grid img", "variants": "#lab-grid img",
    "dropout": "#dropout-grid img", "classifier": "#cg-grid img", "model": "#model-grid img",
}
WAIT_MS = 90_000
CFG_CELL = 84  # pixels of one digit in the CFG grid image (`grids.sweep_grid`'s cell)
# What the first screen (the viewport, scrolled to the top) holds: visible prose words, the largest picture's
# share of the screen, the page's height in screens, and the elements wider than the box that shows them.
FIRST_SCREEN = """() => {
  const W = innerWidth, H = innerHeight, shown = (e) => e.offsetParent !== null;
  const onScreen = (r) => Math.max(0, Math.min(r.right, W) - Math.max(r.left, 0)) *
                          Math.max(0, Math.min(r.bottom, H) - Math.max(r.top, 0));
  let words = 0;
  for (const block of document.querySelectorAll('.prose')) {
    if (!shown(block) || block.parentElement.closest('.prose')) continue;  // gradio nests .prose: count once
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      if (r.height && r.top < H && r.bottom > 0) words += node.textContent.split(/\\s+/).filter(Boolean).length;
    }
  }
  const pictures = [...document.querySelectorAll('.js-plotly-plot, img')].filter((e) => shown(e) &&
    e.getBoundingClientRect().width > 100);
  const largest = Math.max(0, ...pictures.map((e) => onScreen(e.getBoundingClientRect()))) / (W * H);
  const clipped = [...document.querySelectorAll('pre, table, .js-plotly-plot, img, .prose')].filter((e) => {
    if (!shown(e)) return false;
    const style = getComputedStyle(e), scrolls = ['auto', 'scroll'].includes(style.overflowX);
    return e.getBoundingClientRect().right > W + 1 || (!scrolls && e.scrollWidth > e.clientWidth + 1);
  }).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''));
  return {words, largest, screens: document.documentElement.scrollHeight / H, clipped};
}"""


def open_page(page, chapter, shown):
    page.get_by_role("tab", name=chapter.label, exact=True).click()
    page.get_by_role("tab", name=shown.label, exact=True).filter(visible=True).click()


def first_picture(page, page_id):
    """Wait for the page's picture; False if none came (a served model that cannot show it says why instead)."""
    try:
        page.locator(f"{READY.get(page_id, '.js-plotly-plot')}:visible").first.wait_for(timeout=WAIT_MS)
        return True
    except PlaywrightTimeout:
        return False


def visit_every_page(page, out, only=None):
    """Open each page (or those of `only`) by its tabs; save its first screen; return its table row."""
    rows = []
    for chapter in CHAPTERS:
        for shown in chapter.pages:
            if only and shown.id not in only:
                continue
            t0 = time.perf_counter()
            open_page(page, chapter, shown)
            seconds = f"{time.perf_counter() - t0:.2f}" if first_picture(page, shown.id) else "none"
            page.wait_for_timeout(1500)  # let plotly finish drawing
            page.evaluate("window.scrollTo(0, 0)")
            file_name = f"{chapter.id}_{shown.id}.png"
            page.screenshot(path=str(out / file_name))
            m = page.evaluate(FIRST_SCREEN)
            rows.append(f"| {chapter.label} / {shown.label} | {m['words']} | {100 * m['largest']:.0f}% | {seconds} | "
                        f"{m['screens']:.1f} | {', '.join(m['clipped']) or 'none'} |")
            print(rows[-1], flush=True)
    return rows


def check_deep_links(browser, url):
    """`/?tab=ID` for every page: does the page open on its picture with no click?"""
    opened = []
    for chapter in CHAPTERS:
        for shown in chapter.pages:
            linked = browser.new_page(viewport=VIEWPORT)
            linked.goto(f"{url}?tab={shown.id}", wait_until="domcontentloaded")
            opened.append(f"{shown.id}: {'opens on its picture' if first_picture(linked, shown.id) else 'NO PICTURE'}")
            linked.close()
    print("deep links: " + "; ".join(opened), flush=True)


def check_presenter(browser, url):
    """`/?tab=cfg&present=1`: the smallest figure text and the CFG grid's digit cell, in pixels as drawn."""
    shown = browser.new_page(viewport=VIEWPORT)
    shown.goto(f"{url}?tab=cfg&present=1", wait_until="domcontentloaded")
    grid = shown.locator("#cfg-grid img:visible").first
    grid.wait_for(timeout=WAIT_MS)
    shown.wait_for_timeout(1500)  # let plotly finish drawing
    text = shown.evaluate("Math.min(...[...document.querySelectorAll('.js-plotly-plot text')]"
                          ".filter((e) => e.textContent && e.getClientRects().length)"
                          ".map((e) => parseFloat(getComputedStyle(e).fontSize)))")
    width, height, natural_w, natural_h = grid.evaluate(
        "(i) => [i.getBoundingClientRect().width, i.getBoundingClientRect().height, i.naturalWidth, i.naturalHeight]")
    cell = CFG_CELL * min(width / natural_w, height / natural_h)
    print(f"presenter mode: smallest figure text {text:.0f} px; CFG grid digit cells {cell:.0f} px", flush=True)
    shown.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--pages", nargs="+", default=None, help="only these page ids (and no deep-link check)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with running_app(out / "app.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("tab").first.wait_for(timeout=180_000)
        print(wait_for_openings(out / "app.log"), flush=True)  # visit the pages as a visitor after the warm-up would
        print("| page | prose words, first screen | largest picture, share of first screen | click to picture, s "
              "| height, screens | wider than their box |\n|---|---|---|---|---|---|", flush=True)
        visit_every_page(page, out, args.pages)
        check_presenter(browser, url)
        if not args.pages:
            check_deep_links(browser, url)
        browser.close()
    (out / "app.log").unlink()


if __name__ == "__main__":
    main()
