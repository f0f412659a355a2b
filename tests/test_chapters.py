"""playground.chapters: the built app's tabs follow CHAPTERS (chapter tabs in order, each with its pages' tabs in
order), every page has its UI and view module, and every id is unique."""

import importlib
from pathlib import Path

import gradio as gr
import pytest

from playground.chapters import CHAPTERS, page_ids
from playground.ui.app import build_app


def nearest_tabs(block):
    """The gr.Tab blocks under `block` that are not inside another gr.Tab under it, in the order they were built."""
    found = []
    for child in getattr(block, "children", []):
        found += [child] if isinstance(child, gr.Tab) else nearest_tabs(child)
    return found


@pytest.fixture(scope="module")
def demo():
    return build_app()[0]


def test_chapter_tabs_hold_their_page_tabs_in_order(demo):
    chapter_tabs = nearest_tabs(demo)
    assert [(t.id, t.label) for t in chapter_tabs] == [(c.id, c.label) for c in CHAPTERS]
    for tab, chapter in zip(chapter_tabs, CHAPTERS, strict=True):
        page_tabs = nearest_tabs(tab)
        assert [(t.id, t.label) for t in page_tabs] == [(p.id, p.label) for p in chapter.pages], chapter.id


def test_the_app_has_no_other_tabs(demo):
    ids = [b.id for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert sorted(ids) == sorted([c.id for c in CHAPTERS] + page_ids())


def test_page_ids_are_in_reading_order():
    assert page_ids() == [p.id for c in CHAPTERS for p in c.pages]


def test_every_id_names_one_place():
    """The ids name the app's tabs (and deep links): no two chapters or two pages share one. A chapter may share its
    id with its page only when that is its single page (the model chapter is its card), so both name one place."""
    chapter_ids, pages = [c.id for c in CHAPTERS], page_ids()
    assert len(set(chapter_ids)) == len(chapter_ids) and len(set(pages)) == len(pages)
    for chapter in CHAPTERS:
        shared = {chapter.id} & set(pages)
        assert not shared or [p.id for p in chapter.pages] == [chapter.id], chapter.id


@pytest.mark.parametrize(("chapter", "page"), [(c.id, p.id) for c in CHAPTERS for p in c.pages])
def test_every_page_has_a_ui_module_and_a_view_module(chapter, page):
    ui = importlib.import_module(f"playground.ui.{chapter}.{page}")
    importlib.import_module(f"playground.views.{chapter}.{page}")
    assert callable(ui.build)


def test_the_readme_lists_every_demo_slug_of_every_page(shipped):
    from playground.ui.widgets import slug
    from playground.views.guidance import cfg, variants
    from playground.views.inside import decided, forward

    names = [*cfg.PRESETS, *variants.LAB_PRESETS, *forward.PRESETS, *decided.presets(shipped.config, True)]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    slugs = [slug(name) for name in names]
    assert len(set(slugs)) == len(slugs)  # a slug names one demo: links find its button by it
    assert [s for s in slugs if f"`{s}`" not in readme] == []
