"""A list's look: accent colour, logo, footer text and the publisher's links, checked for contrast.

One `Brand` dresses a list's public pages and every e-mail it sends (issues and notices alike).
The accent is the masthead's and the buttons' background (white text on it) and the links'
colour on white cards, so it must reach WCAG AA's 4.5:1 against white; dark mode uses a lighter
shade of it, computed to reach 4.5:1 against the dark card (`Brand.accent_on_dark`).

The logo is always embedded, never fetched: e-mails carry it as a related MIME part referenced
by ``cid:`` (Gmail and Outlook block ``data:`` images in mail), pages as a ``data:`` URI. It is
small by rule (`MAX_LOGO_BYTES`) because it travels in every message.
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AA_CONTRAST",
    "DARK_CARD",
    "DEFAULT_ACCENT",
    "MAX_LOGO_BYTES",
    "Brand",
    "BrandError",
    "Logo",
    "check_accent",
    "contrast_ratio",
    "load_logo",
    "parse_colour",
]

#: WCAG 2.x level AA for normal text.
AA_CONTRAST = 4.5
#: The accent of a list that names none (a deep blue: 10:1 against white).
DEFAULT_ACCENT = "#0b3d91"
#: The dark-mode card every template draws text on.
DARK_CARD = "#1f2933"
#: A logo is part of every message: 24 KB keeps a brief far from Gmail's 102 KB clipping.
MAX_LOGO_BYTES = 24 * 1024
#: How tall a logo is shown (CSS pixels); wider ones are scaled down to `_MAX_LOGO_WIDTH`.
LOGO_HEIGHT = 40
_MAX_LOGO_WIDTH = 200
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}


class BrandError(ValueError):
    """A brand setting is unusable; the message says why and what would do."""


def parse_colour(value: str) -> tuple[int, int, int]:
    """The RGB of a ``#rgb`` or ``#rrggbb`` colour, or BrandError."""
    if not _HEX.match(value):
        raise BrandError(f"{value!r} is not a colour: write it as #rrggbb, e.g. #0b3d91")
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(parse_colour(a)), _luminance(parse_colour(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def _shade(colour: str, against: str, darker: bool) -> str:
    """The nearest shade of ``colour`` (its hue, lightness moved) reaching AA on ``against``."""
    r, g, b = (c / 255 for c in parse_colour(colour))
    hue, light, sat = colorsys.rgb_to_hls(r, g, b)
    for step in range(101):
        moved = light - step / 100 if darker else light + step / 100
        candidate = _hex(colorsys.hls_to_rgb(hue, max(0.0, min(1.0, moved)), sat))
        if contrast_ratio(candidate, against) >= AA_CONTRAST:
            return candidate
    return "#000000" if darker else "#ffffff"


def check_accent(colour: str) -> str:
    """The accent, lower-cased, if white text on it (and it on white) reach AA; else BrandError."""
    ratio = contrast_ratio(colour, "#ffffff")
    if ratio < AA_CONTRAST:
        raise BrandError(
            f"{colour} against white has contrast {ratio:.2f}:1; WCAG AA needs "
            f"{AA_CONTRAST}:1 for text (a darker shade that passes: "
            f"{_shade(colour, '#ffffff', darker=True)})"
        )
    return colour.lower()


@dataclass(frozen=True, slots=True)
class Logo:
    """A small image embedded in pages and e-mails, with its size as shown."""

    data: bytes
    mime: str
    width: int
    height: int
    alt: str

    @property
    def cid(self) -> str:
        """The Content-ID an e-mail refers to it by (stable for the same bytes)."""
        return f"logo.{hashlib.sha256(self.data).hexdigest()[:16]}@briefmail"

    @property
    def data_uri(self) -> str:
        """The image as a ``data:`` URI, for web pages."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def shown(self) -> tuple[int, int]:
        """Width and height in CSS pixels: `LOGO_HEIGHT` tall, at most 200 wide."""
        width = round(self.width * LOGO_HEIGHT / self.height)
        if width <= _MAX_LOGO_WIDTH:
            return width, LOGO_HEIGHT
        return _MAX_LOGO_WIDTH, round(self.height * _MAX_LOGO_WIDTH / self.width)


def load_logo(path: Path, alt: str) -> Logo:
    """Read and check a logo file (PNG, JPEG or GIF, at most 24 KB), or BrandError."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BrandError(f"{path}: cannot read the logo: {exc.strerror or exc}") from None
    if len(data) > MAX_LOGO_BYTES:
        raise BrandError(
            f"{path}: the logo is {len(data) // 1024} KB; it travels in every message, so at "
            f"most {MAX_LOGO_BYTES // 1024} KB (export it at {LOGO_HEIGHT * 2} px tall)"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BrandError(f"{path}: not a readable image ({exc})") from None
    if kind not in _FORMATS:
        raise BrandError(f"{path}: a {kind} image; mail clients show PNG, JPEG or GIF")
    if not alt.strip():
        raise BrandError(f"{path}: the logo needs a text alternative (logo_alt)")
    return Logo(data, _FORMATS[kind], width, height, alt.strip())


@dataclass(frozen=True, slots=True)
class Brand:
    """How one list looks and whom it links to, on its pages and in its e-mails."""

    accent: str = DEFAULT_ACCENT
    logo: Logo | None = None
    #: A line printed at the foot of every page and e-mail (plain text).
    footer: str = ""
    #: The publisher's website and privacy policy (absolute http(s) URLs), linked in footers.
    website: str | None = None
    privacy_url: str | None = None
    #: One paragraph saying what the list is, for its front page and subscribe form.
    description: str = ""

    @property
    def accent_on_dark(self) -> str:
        """The accent lightened until it reaches AA on the dark-mode card (links in dark mode)."""
        if contrast_ratio(self.accent, DARK_CARD) >= AA_CONTRAST:
            return self.accent
        return _shade(self.accent, DARK_CARD, darker=False)

    @property
    def accent_soft(self) -> str:
        """A pale tint of the accent for topic pills, with the accent's text AA on it."""
        r, g, b = (c / 255 for c in parse_colour(self.accent))
        hue, _, sat = colorsys.rgb_to_hls(r, g, b)
        for light in (0.94, 0.96, 0.98, 1.0):
            tint = _hex(colorsys.hls_to_rgb(hue, light, min(sat, 0.6)))
            if contrast_ratio(self.accent, tint) >= AA_CONTRAST:
                return tint
        return "#ffffff"
