"""The course website in a real browser: `tools/build_docs.py` builds the site, a static server on
127.0.0.1 serves it, and Chromium (through Playwright, the system browser from tools/install_chromium.sh)
opens every page. Each page must load with no console error and no request leaving 127.0.0.1, every
image must decode, MathJax must have typeset every formula (no `$…$` left in the text), every internal
link must resolve (page and anchor), and the sidebar must list the notebooks in reading order.
Screenshots of the index and of one notebook page go to build/site-screenshots/.

Skipped only on a machine without /usr/bin/chromium and without CI set; under CI it fails instead."""

import functools
import json
import os
import re
import sys
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_docs  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "build" / "site-screenshots"
RAW_MATH = re.compile(r"\$[^$\s][^$\n]{0,200}?\$")
PAGE_FACTS = """() => {
    const prose = document.querySelector("article") || document.body;
    const copy = prose.cloneNode(true);
    copy.querySelectorAll("pre, code, script, style, mjx-container, .highlight")
        .forEach(node => node.remove());
    return {
        text: copy.innerText,
        images: [...document.images].map(img => ({src: img.src, ok: img.complete && img.naturalWidth > 0})),
        links: [...document.querySelectorAll("a[href]")].map(a => a.href),
        ids: [...document.querySelectorAll("[id]")].map(node => node.id),
        typeset: document.querySelectorAll("mjx-container").length,
        mathjaxError: document.querySelectorAll("mjx-merror").length,
        sidebar: [...document.querySelectorAll("nav.bd-docs-nav a.reference.internal")]
            .map(a => a.getAttribute("href")),
    };
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(
            sys.exc_info()[1], ConnectionError
        ):  # a browser that drops a connection is no error
            super().handle_error(request, client_address)


def test_the_site_shows_no_nbdev_directives():
    """Code on the site is the notebook's code without the `#| export`-style lines nbdev reads (cheap: no
    browser)."""
    cell = lambda text, outputs=(): {"cell_type": "code", "source": text, "outputs": list(outputs)}
    shown = build_docs.strip_directives(
        {
            "cells": [
                cell("#| default_exp attention"),
                cell("#| export\n# |hide\nimport math\nx = 1  #| not a directive"),
                cell("#| echo: false", [{"output_type": "stream", "text": "kept"}]),
                {"cell_type": "markdown", "source": "#| text"},
            ]
        }
    )
    assert [c["source"] for c in shown["cells"]] == ["import math\nx = 1  #| not a directive", "", "#| text"]
    main, appendices = build_docs.reading_order()
    for path in main + appendices:
        for shown_cell in build_docs.strip_directives(json.loads(path.read_text()))["cells"]:
            if shown_cell["cell_type"] == "code":
                assert not re.match(r"\s*#\s*\|", shown_cell["source"]), (
                    f"{path.name} shows {shown_cell['source'][:40]!r}"
                )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; run tools/install_chromium.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site")
    assert build_docs.main(["--out", str(out)]) == 0, "the site did not build"
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _visit(page, url):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.wait_for_function(
        "() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)", timeout=60_000
    )
    page.evaluate("() => window.MathJax && MathJax.startup.promise")
    return errors, page.evaluate(PAGE_FACTS)


def test_every_page_loads_offline_with_images_maths_and_links(site):
    from playwright.sync_api import sync_playwright

    out, base = site
    pages = sorted(
        str(path.relative_to(out))
        for path in out.rglob("*.html")
        if "_static" not in path.parts
        and path.name not in ("genindex.html", "search.html", "py-modindex.html")
    )
    main, appendices = build_docs.reading_order()
    assert len([p for p in pages if p.startswith("notebooks/")]) == len(main) + len(appendices)
    problems, links, anchors, outside, images = [], set(), {}, [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if urlparse(route.request.url).hostname == "127.0.0.1"
                else (outside.append(route.request.url), route.abort())
            ),
        )
        for name in pages:
            page = context.new_page()
            errors, facts = _visit(page, base + name)
            problems += [f"{name}: console error {error!r}" for error in errors]
            problems += [
                f"{name}: image did not load: {img['src']}" for img in facts["images"] if not img["ok"]
            ]
            problems += [f"{name}: raw maths left: {raw!r}" for raw in RAW_MATH.findall(facts["text"])]
            problems += [f"{name}: {facts['mathjaxError']} formulas MathJax could not typeset"] * bool(
                facts["mathjaxError"]
            )
            images += len(facts["images"])
            anchors[base + name] = set(facts["ids"])
            links |= {(name, link) for link in facts["links"] if link.startswith(base)}
            if name == "index.html":
                sidebar = facts["sidebar"]
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "index.png"))
            if name == "notebooks/03_latent_bottleneck.html":
                page.screenshot(path=str(SHOTS / "03_latent_bottleneck.png"), full_page=False)
            page.close()
        browser.close()
    order = [nb.stem for nb in main + appendices]
    listed = [Path(urlparse(href).path).stem for href in sidebar if href.startswith("notebooks/")]
    assert listed == order, f"sidebar lists {listed}, reading order is {order}"
    for name, link in sorted(links):
        target, fragment = urldefrag(link)
        target = target if not target.endswith("/") else target + "index.html"
        try:
            with urllib.request.urlopen(target, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status != 200:
            problems.append(f"{name}: link {link} answers {status}")
        elif fragment and target in anchors and fragment not in anchors[target]:
            problems.append(f"{name}: link {link} names an anchor the page does not have")
    problems += [f"request left 127.0.0.1: {url}" for url in outside]
    print(f"{len(pages)} pages, {images} images, {len(links)} internal links checked")
    assert not problems, "\n".join(problems[:40])
