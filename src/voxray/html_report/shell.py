"""The HTML around a report's body: one stylesheet inline, no script, nothing fetched."""

from __future__ import annotations

from html import escape

REPORT = "report.html"  # in each train or eval run folder
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f0f0f0}img{max-width:100%;margin:.5em 0}.note{color:#666;font-size:.9em}
.warning{color:#a40;font-weight:bold}
.gallery{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;font-size:.8em}img.cam{width:160px}"""


def document(title: str, body: str) -> str:
    """A complete HTML page around `body` (already HTML)."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
