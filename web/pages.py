"""The four pages: one layout (header, navigation, scripts) around each page's own body."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

__all__ = ["PAGES", "Page", "render"]

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Page:
    route: str
    title: str
    template: str  # templates/<template>.html holds the body
    init: str  # the app.js function that runs it
    nav: str | None  # its label in the navigation, or None


PAGES = (
    Page("/", "Overview", "index", "overview", "Overview"),
    Page("/alerts", "Alerts", "alerts", "alerts", "Alerts"),
    Page("/models", "Models & worker", "models", "models", "Models &amp; worker"),
    Page("/entity", "Entity", "entity", "entity", None),
)


def render(page: Page) -> str:
    """The page's HTML: its body in the layout, its own link marked in the navigation."""
    links = []
    for other in PAGES:
        if other.nav is not None:
            here = ' class="here"' if other is page else ""
            links.append(f'<a href="{other.route}"{here}>{other.nav}</a>')
    nav = "".join(links)
    layout = Template((TEMPLATES / "layout.html").read_text())
    body = (TEMPLATES / f"{page.template}.html").read_text().rstrip("\n")
    return layout.substitute(title=page.title, nav=nav, body=body, init=page.init)
