"""Sphinx extension of the course website: every script a page runs comes from the site's own
``_static/``, and the build fails if a page would load anything from the network.

- MathJax 3 (SVG output, so no web fonts) is ``mathjax_path`` in ``_config.yml``; the Jupyter widget
  renderer is ``nb_ipywidgets_js`` (myst-nb adds it to pages whose notebook stored widget state);
  both are staged in ``_assets/`` (served as ``_static/``) by hff_edu/course/site.py from ``js/node_modules``
  (npm ci --prefix js).
- each page gets each script it needs once, and no other (see ``_page_context``): plotly.js (from
  the plotly package) only where a plotly figure is drawn, the widget renderer only where there are
  widgets, MathJax everywhere (the navigation has math); sphinx-thebe's scripts never (thebe is off).
- the widget renderer typesets labels through MathJax 2's ``MathJax.Hub.Queue``: a shim maps it
  onto MathJax 3.
- after the build every HTML page is scanned: a ``<script src>``, stylesheet, image or iframe
  with an ``http(s)://`` or protocol-relative address fails the build and names the page.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.errors import ExtensionError

PLOTLY = "plotly/plotly.min.js"
HUB_SHIM = "widgets/mathjax-hub-shim.js"
#: elements whose address the browser fetches while it shows the page
REMOTE = re.compile(r"""<(script|link|img|iframe|source|video|audio)\b[^>]*?\b(src|href)=["']((?:https?:)?//[^"']+)["']""",
                    re.I)
#: links that are only followed when clicked are fine; these rel values load at view time
LOADING_REL = re.compile(r"""\brel=["'][^"']*\b(stylesheet|preload|modulepreload|icon|manifest)\b""", re.I)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _page_context(app, pagename, templatename, context, doctree):
    """Give each page exactly the scripts it needs, once.

    A script that arrives twice breaks the page (a second MathJax fails with "Cannot set property
    Package"), and one a page does not need only slows it down: so the final list is rebuilt here,
    after every other extension has added its own. Thebe is off (a static site has no kernel), but sphinx-thebe still declares its config twice (a
    console error) and names a CDN copy of thebe: its scripts go too.
    """
    body = context.get("body", "")
    # math: on every page, since the navigation lists titles with math ("... on $S^2$")
    needs = {"math": True, "widgets": WIDGET_VIEW in body, "plotly": "Plotly.newPlot" in body}
    scripts = list(context.get("script_files", []))
    if needs["plotly"]:
        scripts.insert(0, _script(app, PLOTLY))
    mathjax = app.config.mathjax_path
    keep, seen = [], set()
    for s in scripts:
        name, inline = _filename(s), getattr(s, "attributes", {}).get("body", "")
        kind = ("math" if mathjax and name.endswith(mathjax) or inline.startswith("window.MathJax") else
                "widgets" if any(name.endswith(w) for w in app.config.nb_ipywidgets_js) else
                "plotly" if name.endswith(PLOTLY) else None)
        if "sphinx-thebe" in name or "THEBE_JS_URL" in inline:
            continue
        if kind and not needs[kind] or (name or inline) in seen:
            continue
        seen.add(name or inline)
        keep.append(s)
    if mathjax and not any(_filename(s).endswith(mathjax) for s in keep):  # Sphinx adds it to pages with math only
        config = json.dumps(app.config.mathjax3_config or {})
        keep += [_script(app, None, body=f"window.MathJax = {config}"), _script(app, mathjax, defer="defer")]
    if needs["widgets"]:  # after the (deferred) MathJax, so that it patches the real MathJax object
        keep.append(_script(app, HUB_SHIM, defer="defer"))
    context["script_files"] = keep


def _filename(script) -> str:
    return getattr(script, "filename", None) or (script if isinstance(script, str) else "")


def _script(app, filename, **attrs):
    from sphinx.builders.html._assets import _JavaScript
    return _JavaScript(f"_static/{filename}" if filename else "", **attrs)


def remote_loads(html: str) -> list[str]:
    """Addresses on the network that a page would fetch while it is shown."""
    found = []
    for m in REMOTE.finditer(html):
        tag, attr, url = m.group(1).lower(), m.group(2).lower(), m.group(3)
        if tag == "link" and not LOADING_REL.search(m.group(0)):
            continue
        found.append(f"<{tag} {attr}={url}>")
    return found


def _check_offline(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    bad = {}
    for page in Path(app.outdir).rglob("*.html"):
        loads = remote_loads(page.read_text(encoding="utf-8", errors="replace"))
        if loads:
            bad[str(page.relative_to(app.outdir))] = loads
    if bad:
        lines = [f"  {p}: {', '.join(sorted(set(v))[:5])}" for p, v in sorted(bad.items())]
        raise ExtensionError("pages load files from the network (the site must work offline):\n" + "\n".join(lines))


def setup(app):
    app.connect("html-page-context", _page_context, priority=900)  # after myst-nb and sphinx.ext.mathjax
    app.connect("build-finished", _check_offline)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
