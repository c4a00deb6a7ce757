"""Branding in briefmail.toml: each list's look over the publisher's, checked when read."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from briefmail.settings import SettingsError, load_settings
from mailer.brand import DEFAULT_ACCENT


def config(tmp_path: Path, text: str) -> Path:
    """A briefmail.toml holding ``text``."""
    path = tmp_path / "briefmail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_list_takes_the_publishers_look_under_its_own(tmp_path: Path) -> None:
    """[lists.ict] sets its accent and description; website and footer come from [publisher]."""
    Image.new("RGB", (80, 40), (0, 0, 0)).save(tmp_path / "logo.png")
    path = config(
        tmp_path,
        '[publisher]\nname = "Sample Media"\nwebsite = "https://media.example.org"\n'
        'footer = "Sample Media, Berlin"\nlogo = "logo.png"\n'
        '[lists.ict]\naccent = "#B45309"\ndescription = "Weekly ICT bulletin."\n',
    )
    settings = load_settings(path)
    ict, brief = settings.brand("ict"), settings.brand("brief")
    assert (ict.accent, ict.description, ict.website) == (
        "#b45309",
        "Weekly ICT bulletin.",
        "https://media.example.org",
    )
    assert ict.footer == "Sample Media, Berlin" and ict.logo is not None
    assert ict.logo.alt == "Sample Media"
    assert brief.accent == DEFAULT_ACCENT and brief.logo == ict.logo


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[lists.ict]\naccent = "#ffcc00"\n', r"lists\.ict\.accent: .*contrast 1\.\d+:1"),
        ('[publisher]\nprivacy_url = "privacy.html"\n', r"publisher\.privacy_url: .*http"),
        ('[lists.ict]\nlogo = "nope.png"\n', r"lists\.ict\.logo: .*nope\.png: cannot read"),
        ('[lists.ict]\ncolour = "#000"\n', r"lists\.ict\.colour: Extra inputs"),
    ],
)
def test_a_bad_brand_stops_the_start_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    """Low contrast, a relative link, a missing logo, an unknown key: the file and key named."""
    path = config(tmp_path, text)
    with pytest.raises(SettingsError, match=message) as err:
        load_settings(path)
    assert str(path) in str(err.value)
