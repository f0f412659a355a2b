"""Links to a page in a state, and presenter mode, for teachers who put a link per point of a talk on a slide.

- `/?tab=ID` opens a chapter or a page (ids: `playground.chapters`) as if its tabs were clicked, so the page's first
  visit fires and it opens on its picture; a chapter opens on its first page.
- `&NAME=VALUE` sets the page's input NAME, named as its endpoint's parameter (`/?tab=cfg&label=7&scales=0,1,4,10`).
- `&demo=SLUG` runs one of the page's one-click demos (`widgets.slug` of its name).
- `&present=1` starts in presenter mode: prose folded away, larger figure text and pictures, and the left and right
  arrow keys step through the page's one-click demos. The "Present" button toggles it.
- "Copy link" gives the link to the current page with its inputs as they are.
"""

import inspect
import json
import math
import urllib.parse
from dataclasses import dataclass

import gradio as gr

from playground.chapters import CHAPTERS

TRUE_WORDS = ("1", "true", "yes", "on")
# After the inputs are set: click the chapter's and the page's tabs (real clicks, so the page's first visit fires),
# then the demo's button, each once it is drawn.
OPEN_JS = """
() => {
  const query = new URLSearchParams(window.location.search);
  const path = [...(%s[query.get("tab")] || [])];
  const demo = query.get("demo");
  if (demo) path.push("#demo-" + demo);
  const visible = (selector) => [...document.querySelectorAll(selector)].find((e) => e.offsetParent !== null);
  const step = (tries) => {
    if (!path.length || tries <= 0) return;
    const target = path[0].startsWith("#") ? visible(path[0]) : visible(`button[data-tab-id="${path[0]}"]`);
    if (target) { target.click(); path.shift(); }
    setTimeout(() => step(tries - 1), 60);
  };
  step(500);
}
"""
# Runs once the page loads: presenter mode from the URL, and its arrow keys.
PRESENTER_JS = """
() => {
  if (new URLSearchParams(window.location.search).get("present") === "1") document.body.classList.add("present");
  let current = -1;
  document.addEventListener("keydown", (event) => {
    if (!document.body.classList.contains("present") || !["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    const demos = [...document.querySelectorAll("button.demo")].filter((b) => b.offsetParent !== null);
    if (!demos.length) return;
    current = (current + (event.key === "ArrowRight" ? 1 : -1) + demos.length) % demos.length;
    demos[current].click();
    event.preventDefault();
  });
}
"""
TOGGLE_PRESENTER_JS = "() => { document.body.classList.toggle('present'); }"
# The deepest selected tab shown is the current page.
CURRENT_PAGE_JS = """
(...values) => {
  const selected = [...document.querySelectorAll('button[role="tab"][aria-selected="true"]')]
    .filter((b) => b.offsetParent !== null);
  values[0] = selected.length ? selected[selected.length - 1].dataset.tabId : "";
  return values;
}
"""
FULL_URL_JS = """
(query) => {
  const url = window.location.origin + window.location.pathname + query;
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url;
}
"""


def tab_paths():
    """`{id: [the tab ids to click, in order]}` for every chapter and page id."""
    paths = {}
    for chapter in CHAPTERS:
        for p, page in enumerate(chapter.pages):
            paths[page.id] = [chapter.id] + ([page.id] if p else [])
        paths[chapter.id] = [chapter.id]
    return paths


def endpoint_inputs(fns):
    """`{parameter name: component}` of the named endpoints among `fns` (the events a page added)."""
    inputs = {}
    for fn in fns:
        if fn.api_visibility == "public" and fn.fn is not None:
            for name, component in zip(inspect.signature(fn.fn).parameters, fn.inputs, strict=False):
                inputs.setdefault(name, component)
    return inputs


def link_value(component, text):
    """What `text` (a URL's value) stands for in `component`; ValueError when it stands for nothing there."""
    if isinstance(component, gr.Checkbox):
        return text.lower() in TRUE_WORDS
    if isinstance(component, gr.Number | gr.Slider):
        value = float(text)
        return int(value) if value.is_integer() else value
    if isinstance(component, gr.Dropdown | gr.Radio):
        for label, value in component.choices:
            if text in (str(value), str(label)):
                return value
        raise ValueError(text)
    return text


def link_text(value):
    """`value` as a URL writes it: whole numbers without ".0", booleans as 1 / 0."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class TitleBar:
    """The one-line title with its two buttons, and the box "Copy link" fills (hidden until then)."""

    copy: gr.Button
    present: gr.Button
    page: gr.Textbox  # hidden: the current page's id, filled in the browser
    link: gr.Textbox
    linked: gr.State  # the page a link opens ("" without one), set once the link's inputs are: it opens the app


def title_bar(title):
    """The title bar (inside a Blocks context): `title` (markdown, one line), "Copy link", "Present"."""
    with gr.Row(elem_id="title-bar", equal_height=True):
        gr.Markdown(title, elem_id="title")
        copy = gr.Button("Copy link", size="sm", scale=0, min_width=110)
        present = gr.Button("Present", size="sm", scale=0, min_width=100)
    page = gr.Textbox(visible=False)
    link = gr.Textbox(visible=False, show_label=False, container=False, buttons=["copy"], elem_id="link")
    return TitleBar(copy, present, page, link, gr.State(None))


def wire(demo, bar, page_inputs):
    """The link events of `demo` (inside its context, after its pages): the load event that sets a linked page's
    inputs and opens it, "Copy link" and "Present". `page_inputs`: `{page id: {parameter name: component}}`."""
    targets = [(page, name, component) for page, inputs in page_inputs.items() for name, component in inputs.items()]
    components = [component for *_, component in targets]

    def apply_link(request: gr.Request):
        query, updates, wrong = request.query_params, [], []
        for page, name, component in targets:
            if page != query.get("tab") or name not in query:
                updates.append(gr.skip())
                continue
            try:
                updates.append(gr.update(value=link_value(component, query[name])))
            except ValueError:
                updates.append(gr.skip())
                wrong.append(f"{name}={query[name]}")
        if wrong:
            gr.Warning(f"The link's {', '.join(wrong)} is not a value this page takes; the page keeps its own.")
        return [query.get("tab", ""), *updates]

    def copy_link(page, *values):
        params = {"tab": page} if page else {}
        params |= {name: link_text(value) for (owner, name, _), value in zip(targets, values, strict=True)
                   if owner == page}
        return gr.update(value="?" + urllib.parse.urlencode(params, safe=",:"), visible=True)

    private = {"api_visibility": "private", "queue": False}
    demo.load(apply_link, None, [bar.linked, *components], **private).then(
        None, js=OPEN_JS % json.dumps(tab_paths()), **private)
    bar.copy.click(copy_link, [bar.page, *components], [bar.link], js=CURRENT_PAGE_JS, **private).then(
        None, [bar.link], [bar.link], js=FULL_URL_JS, **private)
    bar.present.click(None, js=TOGGLE_PRESENTER_JS, **private)
