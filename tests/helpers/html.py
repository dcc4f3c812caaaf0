"""Read a report page back: its images, links, and the numbers it shows."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Page(HTMLParser):
    """What a report shows: image sources, links, and the text of every cell marked data-key."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.values: dict[str, str] = {}
        self._key: str | None = None
        self.text = ""
        self.feed(path.read_text())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        if tag == "a":
            self.links.append(a["href"])
        if "data-key" in a:
            self._key = a["data-key"]
            self.values[self._key] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "span"):
            self._key = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._key is not None:
            self.values[self._key] += data


def shown(text: str) -> float | list[float] | None:
    """A number as the page writes it ("0.8431", "[0.8, 0.9]", "–", "undefined (...)") back as a value."""
    text = text.strip()
    if text == "–" or text.startswith("undefined"):
        return None
    if text.startswith("["):
        return [float(x) for x in text.strip("[]").split(",")]
    return float(text)
