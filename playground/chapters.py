"""The app's chapters and their pages, in reading order: one list that the UI, the views' folders and the tests read.

A chapter id names a sub-package of `playground.views` and of `playground.ui`; a page id names a module in both
(`playground.ui.<chapter>.<page>` builds the page, `playground.views.<chapter>.<page>` computes what it shows). The
ids are also the tabs' ids in the app. Labels are short, so that every chapter and every page of a chapter fits in
the tab bar at 1024 px.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    id: str
    label: str


@dataclass(frozen=True)
class Chapter:
    id: str
    label: str
    pages: tuple[Page, ...]


CHAPTERS = (
    Chapter("time", "Time", (Page("waves", "Waves"), Page("mlp", "The MLP"), Page("adaln", "Into adaLN"))),
    Chapter("inside", "Inside", (Page("forward", "Forward pass"), Page("decided", "When it's decided"))),
    Chapter("guidance", "Guidance", (
        Page("cfg", "CFG"),
        Page("step", "One step"),
        Page("variants", "Variants"),
        Page("dropout", "Label dropout"),
        Page("classifier", "Classifier guidance"),
    )),
    Chapter("model", "Model", (Page("model", "The card"),)),
)


def page_ids():
    """Every page id, in reading order."""
    return [page.id for chapter in CHAPTERS for page in chapter.pages]
