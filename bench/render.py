"""Rendering cost and size: per-variant render time, HTML size of every template.

    python -m bench.render [--repeat 30]

Measures, in one run and on the same MJML: briefmail's full per-variant render (Jinja → mjml-python
→ css-inline), mjml-python alone, the official npm `mjml` compiling in-process (node, after
warm-up) and as a CLI call per render, and — when premailer is installed — premailer against
css-inline on the same HTML. Needs `make test` to have installed node_modules. Prints a table,
then one JSON line, and records the run in bench/results/render.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.record import record
from mailer.content import Issue
from mailer.render import Renderer, compile_mjml
from mailer.topics import Taxonomy, default_taxonomy
from tests.mailer.cases import NEWSLETTER, issues, render_all

ROOT = Path(__file__).resolve().parent.parent
#: Median milliseconds per call of each way to render or inline (None: not installed here).
Figures = dict[str, float | None]

NODE_LOOP = """
const mjml2html = require('mjml');
const fs = require('fs');
const source = fs.readFileSync(process.argv[1], 'utf8');
const n = parseInt(process.argv[2], 10);
for (let i = 0; i < 5; i++) mjml2html(source);
const t = process.hrtime.bigint();
for (let i = 0; i < n; i++) mjml2html(source, {validationLevel: 'skip'});
console.log(Number(process.hrtime.bigint() - t) / 1e6 / n);
"""


def per_call_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds per call over ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Print render times and template sizes, and record them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    taxonomy = default_taxonomy()
    renderer = Renderer(taxonomy)
    issue = issues(taxonomy)["brief-ten"]
    source = renderer.render_mjml(
        issue, issue.stories, NEWSLETTER, topics=["chips"], cadence="daily"
    )
    from mjml import mjml_to_html

    figures: Figures = {
        "briefmail_variant_ms": per_call_ms(lambda: full_render(renderer, issue), args.repeat),
        "mjml_python_ms": per_call_ms(lambda: mjml_to_html(source), args.repeat),
        **npm_mjml(source, args.repeat),
        **inliners(mjml_to_html(source).html, args.repeat),
    }
    sizes = template_sizes(renderer, taxonomy)
    print_figures(figures, sizes)
    print(json.dumps({"ms": figures, "sizes": sizes}))
    record("render", {**figures, "sizes": sizes})


def full_render(renderer: Renderer, issue: Issue) -> object:
    """One variant rendered for the first time: the MJML cache is cleared before it."""
    compile_mjml.cache_clear()
    return renderer.render_issue(
        issue, issue.stories, NEWSLETTER, topics=["chips"], cadence="daily"
    )


def npm_mjml(source: str, repeat: int) -> Figures:
    """The official npm mjml on the same MJML: in process (after warm-up), and as a CLI call."""
    node_mjml = ROOT / "node_modules" / "mjml"
    if not node_mjml.exists():
        return {"npm_mjml_in_process_ms": None, "npm_mjml_cli_ms": None}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "brief.mjml"
        path.write_text(source, encoding="utf-8")
        loop = subprocess.run(
            ["node", "-e", NODE_LOOP, str(path), str(repeat)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        cli = ROOT / "node_modules" / ".bin" / "mjml"
        # Each CLI call starts node (a second or more here): a sixth of the repeats will do.
        cli_ms = per_call_ms(
            lambda: subprocess.run([str(cli), str(path), "-s"], capture_output=True, check=True),
            max(3, repeat // 6),
        )
    return {"npm_mjml_in_process_ms": float(loop.stdout.strip()), "npm_mjml_cli_ms": cli_ms}


def inliners(html: str, repeat: int) -> Figures:
    """css-inline, as briefmail uses it, and premailer when installed, on the same HTML."""
    import css_inline

    inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
    figures: Figures = {"css_inline_ms": per_call_ms(lambda: inliner.inline(html), repeat)}
    try:
        import logging

        import premailer  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        figures["premailer_ms"] = None
        return figures
    figures["premailer_ms"] = per_call_ms(
        lambda: premailer.Premailer(
            html,
            keep_style_tags=True,
            strip_important=False,
            disable_validation=True,
            allow_network=False,
            cssutils_logging_level=logging.CRITICAL,
        ).transform(),
        repeat,
    )
    return figures


def template_sizes(renderer: Renderer, taxonomy: Taxonomy) -> dict[str, dict[str, int]]:
    """HTML and text bytes of every test template (not the hostile or per-topic ones)."""
    return {
        name: {"html_bytes": len(r.html.encode()), "text_bytes": len(r.text.encode())}
        for name, r in render_all(renderer, taxonomy).items()
        if "hostile" not in name and not name.endswith("-topics")
    }


def print_figures(figures: Figures, sizes: dict[str, dict[str, Any]]) -> None:
    """The readable table: times, ratios to briefmail's render, then sizes."""
    print("per-variant render of the 10-story brief (median ms)")
    for key, value in figures.items():
        print(f"  {key:<26}{'n/a' if value is None else f'{value:8.2f}'}")
    base = figures["briefmail_variant_ms"] or 1.0
    for key in ("npm_mjml_in_process_ms", "npm_mjml_cli_ms"):
        value = figures[key]
        if value:
            print(f"  {key[:-3]} / briefmail variant = {value / base:.2f}x")
    premailer_ms, css_inline_ms = figures["premailer_ms"], figures["css_inline_ms"]
    if premailer_ms and css_inline_ms:
        times = premailer_ms / css_inline_ms
        print(f"  css-inline is {times:.1f}x faster than premailer on the same HTML")
    print("\nHTML and text size per template (bytes)")
    for name, size in sizes.items():
        print(f"  {name:<14}{size['html_bytes']:>9,}{size['text_bytes']:>9,}")


if __name__ == "__main__":
    main()
