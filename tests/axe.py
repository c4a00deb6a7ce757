"""axe-core (the npm package, served from node_modules, never a CDN) run on a Playwright page."""

from __future__ import annotations

from typing import Any

from tests.conftest import ROOT

__all__ = ["AXE", "axe_violations"]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: Run axe on the page; the serious and critical violations, one line each.
_AXE_RUN = """async () => {
  const found = await axe.run(document, {resultTypes: ["violations"]});
  return found.violations
    .filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ")}`);
}"""


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on a Playwright page, one line each.

    The page's context must be opened with ``bypass_csp=True``: the pages' policy refuses
    scripts they did not serve, axe-core included, as it should.
    """
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(_AXE_RUN)
    return found
