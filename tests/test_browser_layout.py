"""At 1280x720 in headless Chromium: the guidance tab opens on a result, and no table cell of the guidance and model
tabs breaks a number or a header over two lines."""

import re

import pytest
from live_app import running_app
from test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, sync_api

pytestmark = pytest.mark.slow

# For every visible cell of the tables under `selector`: its text and how many lines that text takes.
CELL_LINES = """selector => [...document.querySelectorAll(selector)].filter(e => e.offsetParent !== null).map(e => {
    const range = document.createRange();
    range.selectNodeContents(e);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    return [e.innerText.trim(), tops.size];
})"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app") / "app.log") as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url, wait_until="domcontentloaded")
        yield page
        browser.close()


def open_tab(page, name):
    """Click a tab by name; tabs that do not fit the bar sit as buttons in gradio's overflow menu."""
    page.get_by_role("tab").first.wait_for(timeout=TIMEOUT_MS)  # the tab bar is drawn
    tab = page.get_by_role("tab", name=re.compile(name))
    if tab.count():
        tab.click()
        return
    page.get_by_role("button", name="More tabs").click()
    page.locator(".overflow-dropdown button", has_text=re.compile(name)).click()


def broken_cells(page, selector):
    page.locator(selector).first.wait_for(timeout=TIMEOUT_MS)
    cells = page.evaluate(CELL_LINES, selector)
    assert cells, f"no table cells under {selector}"
    return [text for text, lines in cells if lines > 1]


def test_the_guidance_tab_opens_on_a_result(page):
    open_tab(page, "Classifier-free guidance")
    grid = page.locator("#cfg-grid img")
    grid.wait_for(timeout=TIMEOUT_MS)  # no click on Sample or a demo
    assert grid.evaluate("img => img.complete && img.naturalWidth > 200")
    assert grid.bounding_box()["y"] < 720  # on the first screen
    assert page.get_by_text("Class 3", exact=True).count() >= 1  # the default sweep's summary
    assert broken_cells(page, "#cfg-summary th, #cfg-summary td") == []


def test_the_model_tabs_evaluation_table_keeps_every_cell_on_one_line(page):
    open_tab(page, "The model")
    assert broken_cells(page, "#model-evaluation th, #model-evaluation td") == []
