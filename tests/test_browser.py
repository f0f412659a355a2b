"""The app as a person sees it: headless Chromium at 1280x720 visits every page of every chapter and runs a CFG
sweep.

Screenshots go to `screenshots/` (gitignored) for a human to look at.
"""

import os
import re
from pathlib import Path

import pytest
from live_app import REPO, running_app

from playground.chapters import CHAPTERS

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = REPO / "screenshots"
TIMEOUT_MS = 120_000
# For every visible cell of the tables under `selector`: its text and how many lines that text takes.
CELL_LINES = """selector => [...document.querySelectorAll(selector)].filter(e => e.offsetParent !== null).map(e => {
    const range = document.createRange();
    range.selectNodeContents(e);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    return [e.innerText.trim(), tops.size];
})"""

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is absent: install Debian's chromium (`apt-get install -y chromium`) to run the browser test"
    if os.environ.get("REQUIRE_BROWSER"):  # CI sets it: there a missing browser is a failure, not a skip
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    SHOTS.mkdir(exist_ok=True)
    with running_app(tmp_path_factory.mktemp("app") / "app.log") as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(url, wait_until="domcontentloaded")
        yield page
        browser.close()


def plot_count(page):
    return page.locator(".js-plotly-plot:visible").count()


def wait_for_plots(page, n):
    page.wait_for_function(
        f"[...document.querySelectorAll('.js-plotly-plot')].filter(e => e.offsetParent !== null).length >= {n}",
        timeout=TIMEOUT_MS,
    )


def shot(page, name):
    page.wait_for_timeout(800)  # let plotly finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.screenshot(path=str(SHOTS / f"{name}_full.png"), full_page=True)


def open_page(page, page_id):
    """Click the chapter that holds page `page_id`, then the page (every tab is in the bar: none overflows)."""
    chapter, shown = next((c, p) for c in CHAPTERS for p in c.pages if p.id == page_id)
    page.get_by_role("tab").first.wait_for(timeout=TIMEOUT_MS)  # the tab bar is drawn
    page.get_by_role("tab", name=chapter.label, exact=True).click()
    page.get_by_role("tab", name=shown.label, exact=True).filter(visible=True).click()


def broken_cells(page, selector):
    page.locator(selector).first.wait_for(timeout=TIMEOUT_MS)
    cells = page.evaluate(CELL_LINES, selector)
    assert cells, f"no table cells under {selector}"
    return [text for text, lines in cells if lines > 1]


def test_first_tab_renders_on_load(page):
    wait_for_plots(page, 1)
    heatmap = page.locator(".js-plotly-plot").first
    assert "Each t becomes 256 numbers" in heatmap.inner_text()
    assert heatmap.locator(".hm, image").count() >= 1  # the heatmap layer was drawn
    box = heatmap.bounding_box()
    assert box["width"] > 700 and box["y"] < 720  # large, and starts on the first screen
    grid = page.locator("#flavour-grid img")
    grid.wait_for(timeout=TIMEOUT_MS)
    assert grid.bounding_box()["y"] > box["y"] + box["height"] - 1  # the flavour check right under the heatmap
    assert not page.get_by_text("One batch of t through the embedder").is_visible()  # in its fold, closed
    page.get_by_text("The numbers behind it").filter(visible=True).first.click()
    page.get_by_text("One batch of t through the embedder").wait_for(timeout=TIMEOUT_MS)
    shot(page, "01_timestep_embedding")


def test_embedding_knobs_update_the_views(page):
    """The flavour beside the heatmap, the inspector in the fold the test above opened, max_period in "More
    settings" committed by leaving the box."""
    page.get_by_label("diffusers", exact=True).check()
    page.wait_for_function(
        "document.querySelector('.js-plotly-plot').innerText.includes('sin half first')", timeout=TIMEOUT_MS
    )
    box = page.get_by_label("t for the inspector", exact=False)
    box.fill("0, 4, 500, 999")
    box.press("Enter")
    page.get_by_text("rows never mix").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("[0, 4, 500, 999]").count() >= 1
    shot(page, "01b_timestep_embedding_diffusers")
    page.get_by_label("dit", exact=True).check()
    page.wait_for_function(
        "document.querySelector('.js-plotly-plot').innerText.includes('DiT: cos half first')", timeout=TIMEOUT_MS
    )
    page.get_by_text("More settings").filter(visible=True).first.click()
    max_period = page.get_by_label("max_period", exact=True)
    max_period.fill("5000")
    max_period.press("Tab")  # a blur, no Enter
    page.wait_for_function(
        "document.querySelector('.js-plotly-plot').innerText.includes('max_period 5000')", timeout=TIMEOUT_MS
    )


def test_mlp_and_adaln_pages(page):
    open_page(page, "mlp")
    wait_for_plots(page, 2)
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("principal components (2-D)" in t for t in titles) and any("signal level" in t for t in titles)
    assert not any("before and after the MLP" in t for t in titles)  # in the fold, closed
    shot(page, "02_mlp")
    page.get_by_text("The numbers behind it").filter(visible=True).first.click()
    page.get_by_text("One step against the whole path:").wait_for(timeout=TIMEOUT_MS)
    wait_for_plots(page, 6)
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("before and after the MLP" in t for t in titles)
    open_page(page, "adaln")
    wait_for_plots(page, 2)
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("adaLN-Zero" in t for t in titles)
    shot(page, "02b_adaln")


def test_forward_and_decided_pages(page):
    open_page(page, "forward")
    wait_for_plots(page, 2)  # the data's path and attention; the rest sits in closed folds
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("pixels → tokens → 6 blocks → tokens → noise" in t for t in titles)
    assert any("in every block and head" in t for t in titles)
    assert page.locator("#forward-path").bounding_box()["y"] < 720  # on the first screen
    shot(page, "03_forward")
    open_page(page, "decided")
    grid = page.locator("#counterfactual-grid img")
    grid.wait_for(timeout=TIMEOUT_MS)
    assert grid.evaluate("img => img.complete && img.naturalWidth > 200")
    assert grid.bounding_box()["y"] < 720
    assert not page.get_by_label("cut by").is_visible()  # only the chosen experiment's parameters
    page.get_by_label("lie about t").check()
    page.get_by_label("offset / constant").wait_for(timeout=TIMEOUT_MS)
    assert not page.get_by_label("switch to").is_visible()
    shot(page, "03b_decided")


def test_the_guidance_tab_opens_on_a_result(page):
    open_page(page, "cfg")
    grid = page.locator("#cfg-grid img")
    grid.wait_for(timeout=TIMEOUT_MS)  # no click on Sample or a demo
    assert grid.evaluate("img => img.complete && img.naturalWidth > 200")
    assert grid.bounding_box()["y"] < 720  # on the first screen
    assert "then grows" in page.locator("#cfg-caption").inner_text()  # the caption computed from the curve
    assert page.locator("#cfg-exports:visible").count() == 0  # the export box waits for a sweep
    numbers = page.get_by_text("The numbers behind it", exact=True).filter(visible=True)
    numbers.click()  # the default sweep's summary sits in a fold
    page.get_by_text("Class 3", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    assert broken_cells(page, "#cfg-summary th, #cfg-summary td") == []
    numbers.click()


def test_cfg_tab_runs_a_sweep(page):
    open_page(page, "cfg")
    page.get_by_role("button", name="Sample", exact=True).wait_for(timeout=TIMEOUT_MS)
    page.locator("#cfg-live-line").get_by_text("the judge reads").wait_for(timeout=TIMEOUT_MS)  # the opening landed
    shot(page, "03_cfg_before")
    page.get_by_role("button", name="Classic trade-off").click()
    page.locator("#cfg-grid img").wait_for(timeout=TIMEOUT_MS)
    page.locator("#cfg-exports").get_by_text(re.compile(r"\.gif")).wait_for(timeout=TIMEOUT_MS)  # for slides
    assert page.get_by_label(re.compile("guidance scales")).input_value() == "0, 1, 2, 4, 8"
    grid = page.locator("#cfg-grid img")
    assert grid.evaluate("img => img.complete && img.naturalWidth > 200")
    for fold in ("The numbers behind it", "Denoising, step by step"):  # the summary and the trajectory sit in folds
        page.get_by_text(fold, exact=True).filter(visible=True).click()
    page.locator("#cfg-trajectory img").wait_for(timeout=TIMEOUT_MS)
    # the tab opens on the default sweep (6 scales): the demo's own summary has 5
    page.get_by_text(re.compile(r"5 scales, 8 dpm\+\+2m steps")).wait_for(timeout=TIMEOUT_MS)
    shot(page, "03_cfg_sweep")


def test_cfg_live_slider_resamples_one_column_without_a_click(page):
    open_page(page, "cfg")
    before = page.locator("#cfg-live-column img").get_attribute("src")
    page.locator("#cfg-live-scale input[type=range]").evaluate(
        "(input, v) => { Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, v);"
        " input.dispatchEvent(new Event('input', {bubbles: true})); }", "7.5")
    page.locator("#cfg-live-line").get_by_text("s = 7.5").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#cfg-live-column img").get_attribute("src") != before
    shot(page, "03c_cfg_live")
    grid = page.locator("#cfg-grid img").get_attribute("src")
    page.get_by_role("radio", name="5", exact=True).filter(visible=True).check()  # a new digit: the sweep re-runs
    # and once it is drawn the live column follows it, at the slider's scale
    page.locator("#cfg-live-line").get_by_text(re.compile(r"s = 7\.5.* as 5")).wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#cfg-grid img").get_attribute("src") != grid


def test_cfg_bad_scales_show_a_readable_error(page):
    scales = page.get_by_label(re.compile("guidance scales"))
    scales.fill("1, abc")
    page.get_by_role("button", name="Sample", exact=True).click()
    page.get_by_text("'abc' is not a number").first.wait_for(timeout=TIMEOUT_MS)
    shot(page, "03b_cfg_error")
    scales.fill("0, 1, 2, 4, 8")
    page.locator(".toast-close").first.click()  # dismiss it, so later screenshots are clean
    page.locator(".toast-close").first.wait_for(state="detached", timeout=TIMEOUT_MS)


def test_step_and_variants_pages(page):
    open_page(page, "step")
    wait_for_plots(page, 1)  # the panels; the rest sits in closed folds
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any(t.startswith("Step 4 of 8") for t in titles)
    shot(page, "05_step")
    page.get_by_text("The reference's code: forward_with_cfg", exact=True).filter(visible=True).first.click()
    code = page.locator("pre:visible", has_text="half_eps = uncond_eps").first
    code.wait_for(timeout=TIMEOUT_MS)
    assert code.evaluate("e => getComputedStyle(e).overflowX") == "auto"  # a long line scrolls inside its box
    assert code.evaluate("e => e.getBoundingClientRect().right") <= page.viewport_size["width"]
    open_page(page, "variants")
    page.locator("#lab-grid img").wait_for(timeout=TIMEOUT_MS)
    wait_for_plots(page, 2)  # the trade-off curves under the grid
    page.get_by_text("The numbers behind it", exact=True).filter(visible=True).first.click()
    wait_for_plots(page, 3)  # the interval on the noise schedule, in the fold
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("steps guided" in t for t in titles)
    matched = page.locator("table:visible", has_text="scale reaching it").first
    assert matched.evaluate("e => getComputedStyle(e).overflowX") == "auto"  # the Frechet column stays reachable
    shot(page, "05b_variants")
    page.get_by_role("button", name="Steer a 7 away from 1").click()
    page.get_by_text("negative class 1", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    shot(page, "05c_variants_negative")


def test_label_dropout_tab(page):
    open_page(page, "dropout")
    page.locator("#dropout-grid img").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#dropout-grid img").bounding_box()["y"] < 720  # the hero, on the first screen
    shot(page, "06_label_dropout")
    page.get_by_text("The numbers behind it", exact=True).filter(visible=True).first.click()
    page.get_by_text("no CFG (no null row)").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("What the null class learned", exact=True).filter(visible=True).first.click()
    page.get_by_text("The companions against CFG and autoguidance", exact=True).filter(visible=True).first.click()
    wait_for_plots(page, 3)


def test_classifier_guidance_tab(page):
    open_page(page, "classifier")
    page.locator("#cg-grid img").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#cg-grid img").bounding_box()["y"] < 720  # the hero, on the first screen
    shot(page, "07_classifier_guidance")
    page.get_by_text("The numbers behind it", exact=True).filter(visible=True).first.click()
    page.get_by_text("What seeing noise changes").wait_for(timeout=TIMEOUT_MS)
    for fold in ("Accuracy against variety, and distance to real digits",
                 "What each guide asks of ε, and where the classifier can read the digit"):
        page.get_by_text(fold, exact=True).filter(visible=True).first.click()
    wait_for_plots(page, 4)


def test_model_tab(page):
    open_page(page, "model")
    page.locator("#model-grid img").wait_for(timeout=TIMEOUT_MS)  # what the model draws, beside its loss curve
    wait_for_plots(page, 1)
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("Training loss" in t for t in titles)
    shot(page, "04_model")
    page.get_by_text("The label table and the null class", exact=True).filter(visible=True).first.click()
    page.get_by_text("How one network learned").wait_for(timeout=TIMEOUT_MS)
    wait_for_plots(page, 2)
    titles = page.locator(".js-plotly-plot:visible .gtitle").all_text_contents()
    assert any("label table" in t for t in titles)


def test_no_javascript_errors(page):
    assert page.errors == []


def test_the_model_tabs_evaluation_table_keeps_every_cell_on_one_line(page):
    open_page(page, "model")
    if not page.locator("#model-evaluation").is_visible():  # its fold starts closed
        fold = "Evaluation: the judge's table per guidance scale"
        page.get_by_text(fold, exact=True).filter(visible=True).first.click()
    assert broken_cells(page, "#model-evaluation th, #model-evaluation td") == []


@pytest.mark.parametrize("viewport", [(1280, 720), (1024, 576)])
def test_every_chapter_and_page_fits_the_bar(page, viewport):
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    try:
        for chapter in CHAPTERS:
            page.get_by_role("tab", name=chapter.label, exact=True).click()
            labels = [chapter.label] + [p.label for p in chapter.pages]
            for label in labels:  # drawn as a tab in the bar, not tucked into gradio's overflow menu
                assert page.get_by_role("tab", name=label, exact=True).filter(visible=True).count() == 1, label
            assert page.get_by_role("button", name="More tabs").filter(visible=True).count() == 0
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})



@pytest.mark.parametrize(("link", "ready"), [("dropout", "#dropout-grid img"), ("decided", "#counterfactual-grid img"),
                                             ("model", "#model-grid img"), ("guidance", "#cfg-grid img")])
def test_a_deep_link_opens_its_page_on_its_picture(page, link, ready):
    linked = page.context.browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        linked.goto(f"{page.url.split('?')[0]}?tab={link}", wait_until="domcontentloaded")
        linked.locator(f"{ready}:visible").first.wait_for(timeout=TIMEOUT_MS)  # no click: the link opened it
        chapter = next(c for c in CHAPTERS if link in (c.id, *(p.id for p in c.pages)))
        assert linked.get_by_role("tab", name=chapter.label, exact=True).get_attribute("aria-selected") == "true"
    finally:
        linked.close()


def test_a_link_sets_the_page_inputs_and_runs_a_demo(page):
    linked = page.context.browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        linked.goto(f"{page.url.split('?')[0]}?tab=cfg&label=7&scales=0,1,4", wait_until="domcontentloaded")
        linked.locator("#cfg-grid img:visible").first.wait_for(timeout=TIMEOUT_MS)
        linked.locator("#cfg-live-line").get_by_text(re.compile("as 7")).wait_for(timeout=TIMEOUT_MS)  # linked digit
        assert linked.get_by_label(re.compile("guidance scales")).input_value() == "0,1,4"
        linked.goto(f"{page.url.split('?')[0]}?tab=cfg&demo=classic-trade-off", wait_until="domcontentloaded")
        # the demo's sweep (digit 3, seed 0, 8 dpm++2m steps) drawn: its files for slides
        linked.locator("#cfg-exports").get_by_text(re.compile("cfg_3_seed0_8dpmpp2m_")).first.wait_for(
            timeout=TIMEOUT_MS)
        assert linked.get_by_label(re.compile("guidance scales")).input_value() == "0, 1, 2, 4, 8"
    finally:
        linked.close()


def test_copy_link_gives_the_current_page_and_its_inputs(page):
    open_page(page, "cfg")
    page.locator("#cfg-grid img:visible").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Copy link").click()
    box = page.locator("#link textarea, #link input").first
    filled = "() => (document.querySelector('#link textarea, #link input') || {}).value?.includes('tab=')"
    page.wait_for_function(filled, timeout=TIMEOUT_MS)
    link = box.input_value()
    assert link.startswith(page.url.split("?")[0] + "?tab=cfg&label=") and "&scales=" in link and "&clip=1" in link


def test_presenter_mode_folds_prose_enlarges_figure_text_and_steps_through_demos(page):
    linked = page.context.browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        linked.goto(f"{page.url.split('?')[0]}?tab=cfg&present=1", wait_until="domcontentloaded")
        linked.locator("#cfg-grid img:visible").first.wait_for(timeout=TIMEOUT_MS)
        assert linked.evaluate("document.body.classList.contains('present')")
        wait_for_plots(linked, 1)
        sizes = linked.evaluate("[...document.querySelectorAll('.js-plotly-plot text')].filter(e => e.textContent)"
                                ".map(e => parseFloat(getComputedStyle(e).fontSize))")
        assert sizes and min(sizes) >= 16
        linked.locator("body").press("ArrowRight")  # the page's first one-click demo: its sweep's files appear
        linked.locator("#cfg-exports").get_by_text(re.compile("cfg_3_seed0_8dpmpp2m_")).first.wait_for(
            timeout=TIMEOUT_MS)
    finally:
        linked.close()


HEROES = {  # page id -> its hero picture, as the page opens
    "waves": ".js-plotly-plot", "mlp": ".js-plotly-plot", "adaln": ".js-plotly-plot", "forward": "#forward-path",
    "decided": "#counterfactual-grid img", "cfg": "#cfg-grid img", "step": ".js-plotly-plot",
    "variants": "#lab-grid img", "dropout": "#dropout-grid img", "classifier": "#cg-grid img",
    "model": "#model-grid img",
}
# Elements wider than the box that shows them (clipped, or spilling out of the page), of the page shown.
WIDER_THAN_THEIR_BOX = """() => [...document.querySelectorAll('pre, table, .js-plotly-plot, img, .prose')].filter(e => {
    if (e.offsetParent === null) return false;
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    return e.getBoundingClientRect().right > innerWidth + 1 || (!scrolls && e.scrollWidth > e.clientWidth + 1);
}).map(e => e.tagName + (e.id ? '#' + e.id : ''))"""


def test_every_page_opens_on_its_hero_with_nothing_wider_than_its_box_and_a_one_line_title(page):
    assert set(HEROES) == {p.id for c in CHAPTERS for p in c.pages}
    assert page.locator("#title-bar").bounding_box()["height"] <= 60
    for chapter in CHAPTERS:
        for shown in chapter.pages:
            open_page(page, shown.id)
            hero = page.locator(f"{HEROES[shown.id]}:visible").first
            hero.wait_for(timeout=TIMEOUT_MS)
            assert hero.bounding_box()["y"] < 720, shown.id  # on the first screen
            assert page.evaluate(WIDER_THAN_THEIR_BOX) == [], shown.id
