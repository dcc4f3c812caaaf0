"""EDA output: figures saved as PNG, tables as HTML, and one `index.html` that shows them all."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: EDA runs on servers
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 90  # legible in a browser at full width, ~100-300 KB per figure


@dataclass(frozen=True)
class Item:
    """One entry of the index: a figure (`image`, a file in the run folder) or an HTML `table`."""

    title: str
    caption: str
    image: str | None = None
    table: str | None = None


def save_figure(fig: Figure, out_dir: Path, name: str, title: str, caption: str) -> Item:
    """Write `fig` to `<out_dir>/<name>.png`, close it, and return its index entry.

    Args:
        fig: the matplotlib figure.
        out_dir: run folder.
        name: file stem.
        title: heading in the index.
        caption: one line under the figure.
    """
    fig.savefig(out_dir / f"{name}.png", dpi=DPI)  # builders lay out their own figures (tight or constrained)
    plt.close(fig)
    return Item(title, caption, image=f"{name}.png")


def table_item(frame: pd.DataFrame, title: str, caption: str) -> Item:
    """An index entry that shows `frame` as an HTML table."""
    return Item(title, caption, table=frame.to_html(index=False, border=0, classes="data"))


_STYLE = """
body { font-family: sans-serif; max-width: 1400px; margin: 2em auto; color: #222; }
figure { margin: 2em 0; } img { max-width: 100%; border: 1px solid #ddd; }
figcaption, p.caption { color: #444; margin-top: .4em; }
table.data { border-collapse: collapse; font-size: 90%; }
table.data td, table.data th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 85%; }
"""


def write_index(out_dir: Path, title: str, items: list[Item], summary: dict) -> Path:
    """`<out_dir>/index.html`: the title, every item in order, and `summary` (the data report).

    Args:
        out_dir: run folder holding the figures.
        title: page heading.
        items: figures and tables, in the order they appear.
        summary: JSON-serialisable facts shown at the end (rows per split, exclusions...).
    """
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1><ul>"]
    parts += [f"<li><a href='#item{i}'>{html.escape(item.title)}</a></li>" for i, item in enumerate(items)]
    parts.append("</ul>")
    for i, item in enumerate(items):
        parts.append(f"<h2 id='item{i}'>{html.escape(item.title)}</h2>")
        if item.image:
            parts.append(f"<figure><a href='{item.image}'><img src='{item.image}' loading='lazy' "
                         f"alt='{html.escape(item.title)}'></a>"
                         f"<figcaption>{html.escape(item.caption)}</figcaption></figure>")
        else:
            parts.append(f"{item.table}<p class='caption'>{html.escape(item.caption)}</p>")
    report = json.dumps(summary, indent=2, default=str)
    parts.append(f"<h2>Data report</h2><pre>{html.escape(report)}</pre>")
    path = out_dir / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
