"""A list's look: WCAG contrast of the accent, its shades for dark mode and pills, the logo."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from mailer.brand import (
    AA_CONTRAST,
    DARK_CARD,
    MAX_LOGO_BYTES,
    Brand,
    BrandError,
    check_accent,
    contrast_ratio,
    load_logo,
)


def png(path: Path, size: tuple[int, int] = (120, 40)) -> Path:
    """A real PNG of ``size`` at ``path``."""
    Image.new("RGB", size, (11, 61, 145)).save(path, format="PNG")
    return path


class TestContrast:
    def test_known_ratios(self) -> None:
        """Black on white is 21:1, a colour on itself 1:1, WCAG's formula in between."""
        assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
        assert contrast_ratio("#777", "#777777") == pytest.approx(1)
        assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)

    def test_a_pale_accent_is_refused_with_a_darker_shade_that_passes(self) -> None:
        """Yellow on white is 1.5:1: refused, and the suggested shade reaches AA."""
        with pytest.raises(BrandError, match=r"contrast 1\.\d\d:1; WCAG AA needs 4\.5:1") as err:
            check_accent("#ffcc00")
        suggested = str(err.value).rsplit(" ", 1)[-1].rstrip(")")
        assert contrast_ratio(suggested, "#ffffff") >= AA_CONTRAST

    def test_a_malformed_colour_names_the_format(self) -> None:
        """A name such as "blue" is not a colour here: the message shows #rrggbb."""
        with pytest.raises(BrandError, match="#rrggbb"):
            check_accent("blue")

    @pytest.mark.parametrize("accent", ["#0b3d91", "#b45309", "#7c3aed", "#000000", "#15803d"])
    def test_the_shades_keep_aa(self, accent: str) -> None:
        """The dark-mode accent reaches AA on the dark card, and accent text does so on pills."""
        brand = Brand(accent=accent)
        assert contrast_ratio(brand.accent_on_dark, DARK_CARD) >= AA_CONTRAST
        assert contrast_ratio(brand.accent, brand.accent_soft) >= AA_CONTRAST


class TestLogo:
    def test_a_png_is_read_with_its_shown_size(self, tmp_path: Path) -> None:
        """A 120×40 PNG is shown 40 px tall; its cid is stable and its data URI is a PNG's."""
        logo = load_logo(png(tmp_path / "logo.png"), "Sample Media")
        assert (logo.mime, logo.shown, logo.alt) == ("image/png", (120, 40), "Sample Media")
        assert logo.cid == load_logo(tmp_path / "logo.png", "x").cid
        assert logo.data_uri.startswith("data:image/png;base64,iVBOR")

    def test_a_wide_logo_is_scaled_to_fit(self, tmp_path: Path) -> None:
        """A 1000×100 banner is shown at most 200 px wide, its proportions kept."""
        assert load_logo(png(tmp_path / "wide.png", (1000, 100)), "x").shown == (200, 20)

    def test_a_logo_too_big_for_every_message_is_refused(self, tmp_path: Path) -> None:
        """Over 24 KB: refused with its size, since it travels in every message."""
        path = tmp_path / "big.png"
        noise = Image.frombytes("RGB", (200, 200), bytes(range(256)) * 468 + bytes(192))
        buffer = io.BytesIO()
        noise.save(buffer, format="PNG", compress_level=0)
        path.write_bytes(buffer.getvalue())
        assert path.stat().st_size > MAX_LOGO_BYTES
        with pytest.raises(BrandError, match=r"big\.png: the logo is \d+ KB"):
            load_logo(path, "x")

    def test_what_is_not_an_image_is_refused_with_its_path(self, tmp_path: Path) -> None:
        """A text file, an SVG and a missing file: each refused, the path named."""
        (tmp_path / "logo.txt").write_text("hello", encoding="utf-8")
        (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
        for name in ("logo.txt", "logo.svg", "missing.png"):
            with pytest.raises(BrandError, match=name.replace(".", r"\.")):
                load_logo(tmp_path / name, "x")
