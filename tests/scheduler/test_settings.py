"""Settings: file, environment overrides, secrets only from the environment, named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.settings import SettingsError, load_settings, write_default_config


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "briefmail.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestLoading:
    def test_defaults_without_a_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no file and no environment every key has a working default."""
        monkeypatch.chdir(tmp_path)
        settings = load_settings()
        assert settings.config_file is None
        assert settings.smtp.port == 25
        assert settings.schedule.max_age_hours == 20
        assert settings.database_url() == f"sqlite:///{tmp_path / 'briefmail.db'}"

    def test_the_written_default_file_loads(self, tmp_path: Path) -> None:
        """The file `briefmail init` writes is valid and has the documented sections."""
        path = tmp_path / "briefmail.toml"
        assert write_default_config(path)
        assert not write_default_config(path)
        settings = load_settings(path)
        assert settings.newsletter.from_ == "China AI Brief <brief@example.org>"

    def test_environment_overrides_nested_keys(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BRIEFMAIL_SECTION__KEY overrides the file; secrets come from the environment."""
        path = config(tmp_path, '[smtp]\nhost = "relay.example.org"\nport = 25\n')
        monkeypatch.setenv("BRIEFMAIL_SMTP__PORT", "2525")
        monkeypatch.setenv("BRIEFMAIL_SMTP__PASSWORD", "s3cret")
        monkeypatch.setenv("BRIEFMAIL_DATABASE__URL", "sqlite:////tmp/x.db")
        settings = load_settings(path)
        assert (settings.smtp.host, settings.smtp.port) == ("relay.example.org", 2525)
        assert settings.smtp.password is not None
        assert settings.smtp.password.get_secret_value() == "s3cret"
        assert settings.database_url() == "sqlite:////tmp/x.db"

    def test_config_found_through_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BRIEFMAIL_CONFIG names the file; relative SQLite paths are relative to it."""
        path = config(tmp_path, '[database]\nurl = "sqlite:///data/b.db"\n')
        monkeypatch.setenv("BRIEFMAIL_CONFIG", str(path))
        settings = load_settings()
        assert settings.database_url() == f"sqlite:///{tmp_path / 'data' / 'b.db'}"


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[smtp]\nport = "many"\n', "smtp.port: Input should be a valid integer"),
            ('[smtp]\nhots = "x"\n', "smtp.hots: Extra inputs are not permitted"),
            ('[smtp]\nsecurity = "ssl"\n', "smtp.security: Input should be 'none', 'starttls'"),
            (
                "[schedule]\nmax_age_hours = 0\n",
                "schedule.max_age_hours: Input should be greater than 0",
            ),
            ('[schedule]\ntimezone = "Mars"\n', "schedule.timezone: Value error, must be an IANA"),
            ('[newsletter]\nbase_url = "example.org"\n', "newsletter.base_url: Value error"),
            ("[smtp\n", "briefmail.toml: "),
        ],
    )
    def test_errors_name_file_and_key(self, tmp_path: Path, text: str, message: str) -> None:
        """A bad value is reported with the file and the dotted key."""
        path = config(tmp_path, text)
        with pytest.raises(SettingsError) as info:
            load_settings(path)
        assert str(info.value).startswith(str(path))
        assert message in str(info.value)

    @pytest.mark.parametrize(
        ("text", "variable"),
        [
            ('[smtp]\npassword = "x"\n', "BRIEFMAIL_SMTP__PASSWORD"),
            ('secret_key = "x"\n', "BRIEFMAIL_SECRET_KEY"),
        ],
    )
    def test_secrets_in_the_file_are_refused(
        self, tmp_path: Path, text: str, variable: str
    ) -> None:
        """A password or key in the config file is refused, naming the variable to use instead."""
        with pytest.raises(
            SettingsError, match=f"secrets are read only from the environment.*{variable}"
        ):
            load_settings(config(tmp_path, text))

    def test_missing_explicit_file(self, tmp_path: Path) -> None:
        """An explicitly named config file that does not exist is an error, not defaults."""
        with pytest.raises(SettingsError, match="config file not found"):
            load_settings(tmp_path / "nope.toml")

    def test_missing_secret_key_says_how_to_get_one(self, tmp_path: Path) -> None:
        """Without BRIEFMAIL_SECRET_KEY or a key file, the error says what to do."""
        settings = load_settings(config(tmp_path, ""))
        with pytest.raises(SettingsError, match="set BRIEFMAIL_SECRET_KEY or run `briefmail init`"):
            settings.secret()
