"""The model card as one self-contained HTML page (its Markdown rendered, the run's figures
embedded as data URIs; no external files or scripts)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from icipredict.tracking.modelcard import ModelCard

HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Model card: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #1a1a1a; }}
table {{ border-collapse: collapse; margin: 0.5rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }}
figure {{ display: inline-block; margin: 0.5rem; }} figure img {{ max-width: 28rem; }}
code {{ background: #f3f3f3; padding: 0 0.2rem; }}
</style></head><body>
{body}
{figures}
</body></html>
"""


def render_html(card: ModelCard, full: bool = False,
                images: dict[str, bytes] | None = None) -> str:
    """Render a card as one self-contained HTML page (no external files or scripts).

    ``images`` maps the card's plot artifact paths to their bytes (:func:`plot_images`); each
    is embedded as a ``data:`` URI under "Figures".
    """
    import base64
    import html

    from markdown_it import MarkdownIt

    from icipredict.tracking.modelcard import render_markdown

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = md.render(render_markdown(card, full=full))
    figures = []
    for path in card.plots:
        data = (images or {}).get(path)
        if data is None:
            continue
        mime = "image/svg+xml" if path.endswith(".svg") else "image/png"
        src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        label = html.escape(Path(path).stem.replace("_", " "))
        figures.append(f'<figure><img src="{src}" alt="{label}">'
                       f"<figcaption>{label}</figcaption></figure>")
    section = ("<h2>Figures</h2>\n" + "\n".join(figures)) if figures else ""
    return HTML_PAGE.format(title=html.escape(f"{card.name} version {card.version}"),
                            body=body, figures=section)
