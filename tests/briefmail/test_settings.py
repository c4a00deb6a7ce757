"""Settings: file, environment overrides, secrets only from the environment, named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefmail.settings import (
    SettingsError,
    load_settings,
    write_default_config,
    write_secret_key,
)


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


class TestSecrets:
    @pytest.mark.parametrize(
        "url",
        [
            "postgresql+psycopg://briefmail:hunter2@db.example.org/briefmail",
            "postgresql+psycopg://briefmail@db.example.org/briefmail?password=hunter2",
        ],
    )
    def test_a_password_in_the_file_database_url_is_refused(self, tmp_path: Path, url: str) -> None:
        """database.url with a password in the file is refused like every other secret."""
        with pytest.raises(SettingsError) as info:
            load_settings(config(tmp_path, f'[database]\nurl = "{url}"\n'))
        assert "database.url: contains a password" in str(info.value)
        assert "BRIEFMAIL_DATABASE__URL" in str(info.value)
        assert "hunter2" not in str(info.value)

    def test_the_same_url_from_the_environment_is_accepted(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A database URL with a password is fine in BRIEFMAIL_DATABASE__URL."""
        url = "postgresql+psycopg://briefmail:hunter2@db.example.org/briefmail"
        monkeypatch.setenv("BRIEFMAIL_DATABASE__URL", url)
        assert load_settings(config(tmp_path, "")).database_url() == url

    def test_a_url_without_a_password_stays_in_the_file(self, tmp_path: Path) -> None:
        """A server URL without a password (peer or .pgpass auth) is a normal config key."""
        url = "postgresql+psycopg://briefmail@/briefmail"
        settings = load_settings(config(tmp_path, f'[database]\nurl = "{url}"\n'))
        assert settings.database.url == url

    def test_a_short_key_names_the_minimum(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A BRIEFMAIL_SECRET_KEY under 16 characters is refused, saying the minimum."""
        monkeypatch.setenv("BRIEFMAIL_SECRET_KEY", "short")
        with pytest.raises(SettingsError, match=r"too short \(5 characters\).*at least 16"):
            load_settings(config(tmp_path, "")).secret()

    def test_the_written_key_file_is_private_and_used(self, tmp_path: Path) -> None:
        """The key file `init` writes has mode 0600 and is the key used."""
        assert write_secret_key(tmp_path / "briefmail.secret")
        assert (tmp_path / "briefmail.secret").stat().st_mode & 0o777 == 0o600
        key = load_settings(config(tmp_path, "")).secret()
        assert len(key) >= 16

    @pytest.mark.parametrize("mode", [0o640, 0o604])
    def test_a_key_file_others_can_read_is_refused(self, tmp_path: Path, mode: int) -> None:
        """A key file readable by its group or by others is refused with the chmod that fixes it."""
        key_file = tmp_path / "briefmail.secret"
        write_secret_key(key_file)
        key_file.chmod(mode)
        with pytest.raises(SettingsError) as info:
            load_settings(config(tmp_path, "")).secret()
        assert f"run `chmod 600 {key_file}`" in str(info.value)
        assert key_file.read_text(encoding="utf-8").strip() not in str(info.value)


class TestDatabase:
    def test_a_sqlite_uri_is_passed_as_written(self, tmp_path: Path) -> None:
        """A file: URI (a read-only open) is not made relative to the config's folder."""
        url = "sqlite:///file:/srv/briefmail.db?mode=ro&uri=true"
        settings = load_settings(config(tmp_path, f'[database]\nurl = "{url}"\n'))
        assert settings.database_url() == url

    def test_the_busy_timeout_is_a_setting(self, tmp_path: Path) -> None:
        """database.busy_timeout is how long SQLite waits for a lock (30 s unless set)."""
        assert load_settings(config(tmp_path, "")).database.busy_timeout == 30
        settings = load_settings(config(tmp_path, "[database]\nbusy_timeout = 2.5\n"))
        assert settings.database.busy_timeout == 2.5

    def test_a_url_that_does_not_parse_names_the_key(self, tmp_path: Path) -> None:
        """A database.url that is no URL is refused at load, naming the key."""
        with pytest.raises(SettingsError, match="database.url: Value error, must be a database"):
            load_settings(config(tmp_path, '[database]\nurl = "not a url"\n'))
