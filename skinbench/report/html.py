"""report.html: report.md as one self-contained page (figures embedded, tables sortable, no network).

Python-Markdown turns the Markdown into HTML; every image the report links (``plots/...``) is
embedded as a data URI, so the file can be mailed or opened from anywhere. Clicking a table's
heading sorts its rows by that column (numbers as numbers, a dash last).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from skinbench.io import write_text

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 80rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th:hover { background: #e4e4e4; }
img { max-width: 100%; }
blockquote { border-left: 4px solid #d33; margin-left: 0; padding-left: 1rem; color: #555; }
"""

#: Sorts a table by the clicked heading: numbers (the first one in a cell) as numbers, text otherwise.
SORT_SCRIPT = """
document.querySelectorAll("table").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== "up";
      var key = function (row) {
        var text = row.cells[column] ? row.cells[column].textContent.trim() : "";
        var number = text.match(/^[+\\u2212-]?\\d*\\.?\\d+/);
        return number ? parseFloat(number[0].replace("\\u2212", "-")) : text;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      });
      th.dataset.order = up ? "up" : "down";
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _embed(match: re.Match, folder: Path) -> str:
    source = match.group(2)
    path = folder / source
    if source.startswith(("data:", "http:", "https:")) or not path.is_file():
        return match.group(0)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'{match.group(1)}data:image/png;base64,{data}{match.group(3)}'


def render_html(markdown_text: str, folder: Path) -> str:
    """The whole page of ``markdown_text``, whose image links are relative to ``folder``."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "sane_lists"])
    body = re.sub(r'(<img[^>]*\bsrc=")([^"]+)(")', lambda m: _embed(m, folder), body)
    title = next((line[2:] for line in markdown_text.splitlines() if line.startswith("# ")), "skinbench report")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")


def write_html(report_md: Path, out: Path) -> Path:
    """``out``: report.md as one self-contained page."""
    return write_text(out, render_html(Path(report_md).read_text(encoding="utf-8"), Path(report_md).parent))
