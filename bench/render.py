"""Rendering cost and size: per-variant render time, HTML size of every template.

    python bench/render.py [--repeat 30]

Measures, in one run and on the same MJML: briefmail's full per-variant render (Jinja → mjml-python
→ css-inline), mjml-python alone, the official npm `mjml` compiling in-process (node, after
warm-up) and as a CLI call per render, and — when premailer is installed — premailer against
css-inline on the same HTML. Needs `make test` to have installed node_modules. Prints a table,
then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.render import Renderer, compile_mjml  # noqa: E402
from mailer.topics import default_taxonomy  # noqa: E402
from tests.mailer.cases import NEWSLETTER, issues, render_all  # noqa: E402

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
    """Print render times and template sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    taxonomy = default_taxonomy()
    renderer = Renderer(taxonomy)
    issue = issues(taxonomy)["brief-ten"]
    source = renderer.render_mjml(
        issue, issue.stories, NEWSLETTER, topics=["chips"], cadence="daily"
    )

    def full_render() -> object:
        compile_mjml.cache_clear()  # measure a variant rendered for the first time
        return renderer.render_issue(
            issue, issue.stories, NEWSLETTER, topics=["chips"], cadence="daily"
        )

    from mjml import mjml_to_html

    figures: dict[str, float | None] = {
        "briefmail_variant_ms": per_call_ms(full_render, args.repeat),
        "mjml_python_ms": per_call_ms(lambda: mjml_to_html(source), args.repeat),
    }
    node_mjml = ROOT / "node_modules" / "mjml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "brief.mjml"
        path.write_text(source, encoding="utf-8")
        if node_mjml.exists():
            loop = subprocess.run(
                ["node", "-e", NODE_LOOP, str(path), str(args.repeat)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            figures["npm_mjml_in_process_ms"] = float(loop.stdout.strip())
            cli = ROOT / "node_modules" / ".bin" / "mjml"
            figures["npm_mjml_cli_ms"] = per_call_ms(
                lambda: subprocess.run(
                    [str(cli), str(path), "-s"], capture_output=True, check=True
                ),
                max(3, args.repeat // 6),
            )
        else:
            figures["npm_mjml_in_process_ms"] = figures["npm_mjml_cli_ms"] = None
    html = mjml_to_html(source).html
    import css_inline

    inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
    figures["css_inline_ms"] = per_call_ms(lambda: inliner.inline(html), args.repeat)
    try:
        import logging

        import premailer

        figures["premailer_ms"] = per_call_ms(
            lambda: premailer.Premailer(
                html,
                keep_style_tags=True,
                strip_important=False,
                disable_validation=True,
                allow_network=False,
                cssutils_logging_level=logging.CRITICAL,
            ).transform(),
            args.repeat,
        )
    except ImportError:
        figures["premailer_ms"] = None
    sizes = {
        name: {"html_bytes": len(r.html.encode()), "text_bytes": len(r.text.encode())}
        for name, r in render_all(renderer, taxonomy).items()
        if "hostile" not in name and not name.endswith("-topics")
    }
    print("per-variant render of the 10-story brief (median ms)")
    for key, value in figures.items():
        print(f"  {key:<26}{'n/a' if value is None else f'{value:8.2f}'}")
    base = figures["briefmail_variant_ms"] or 1.0
    for key in ("npm_mjml_in_process_ms", "npm_mjml_cli_ms"):
        if figures[key]:
            print(f"  {key[:-3]} / briefmail variant = {figures[key] / base:.2f}x")
    if figures["premailer_ms"]:
        print(
            f"  css-inline is {figures['premailer_ms'] / figures['css_inline_ms']:.1f}x "
            "faster than premailer on the same HTML"
        )
    print("\nHTML and text size per template (bytes)")
    for name, size in sizes.items():
        print(f"  {name:<14}{size['html_bytes']:>9,}{size['text_bytes']:>9,}")
    print(json.dumps({"ms": figures, "sizes": sizes}))


if __name__ == "__main__":
    main()
