"""Typed settings: briefmail.toml, overridden by BRIEFMAIL_* environment variables.

The file is found at ``--config PATH``, else ``$BRIEFMAIL_CONFIG``, else ``./briefmail.toml``; a
missing file means "all defaults". Nested keys come from the environment with ``__``
(``BRIEFMAIL_SMTP__PORT=2525``). Secrets (the SMTP password, the token key) are read only from the
environment: a config file that contains one is refused, because config files get committed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from briefmail.branding import ListSettings, PublisherSettings, resolve_brands
from mailer.brand import Brand, BrandError

__all__ = [
    "CONFIG_FILE",
    "MIN_SECRET_LENGTH",
    "Settings",
    "SettingsError",
    "isolated_settings",
    "load_settings",
    "write_default_config",
    "write_secret_key",
]

CONFIG_FILE = "briefmail.toml"
_SECRET_KEYS = {("smtp", "password"), ("secret_key",)}
#: The shortest token key accepted (subscribers.tokens refuses shorter ones too).
MIN_SECRET_LENGTH = 16


class SettingsError(Exception):
    """Configuration is unusable; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NewsletterSettings(_Section):
    """[newsletter]: the default list, and how every message presents its sender."""

    slug: str = "brief"
    name: str = "China AI Brief"
    from_: str = Field(default="China AI Brief <brief@example.org>", alias="from")
    base_url: str = "http://localhost:8000"
    list_id: str | None = None
    postal_address: str = ""
    language: str = "en"

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL, e.g. https://news.example.org")
        return value.rstrip("/")


class DatabaseSettings(_Section):
    """[database]: SQLite by default, PostgreSQL by URL (its password only from the environment)."""

    url: str = "sqlite:///briefmail.db"
    #: SQLite: seconds to wait for another process's lock before the command gives up.
    busy_timeout: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _parses(cls, value: str) -> str:
        # SQLAlchemy is imported here, not at the top: `briefmail --help` needs no database.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(
                "must be a database URL, e.g. sqlite:///briefmail.db or "
                "postgresql+psycopg://user@host/briefmail"
            ) from None
        return value


class SmtpDomainSettings(_Section):
    """[smtp.domains."outlook.com"]: how fast one recipient domain (and its subdomains) is sent."""

    #: Messages per second to the domain at most (0: no limit of its own).
    rate: float = Field(default=0.0, ge=0)
    #: Messages in flight to the domain at once (0: no limit of its own).
    connections: int = Field(default=0, ge=0, le=64)


class SmtpSettings(_Section):
    """[smtp]: the relay; the password only from BRIEFMAIL_SMTP__PASSWORD."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0)
    #: Connections kept open to the relay (messages in flight at once, so at most this many
    #: copies are uncertain after a crash). Sixteen keep a sender busy while its signatures
    #: are made on another core and each turn waits for half of them (measured against eight:
    #: bench/RESULTS.md); Postfix accepts 50 from one client by default.
    connections: int = Field(default=16, ge=1, le=64)
    #: Messages per second at most (0: as fast as the relay accepts).
    rate: float = Field(default=0.0, ge=0)
    #: Check the relay's TLS certificate. False only for a test relay: logged loudly, and
    #: `briefmail status` warns.
    verify: bool = True
    #: A PEM bundle of CAs to trust for the relay (a private CA); default: the system's.
    ca_file: Path | None = None
    #: The relay takes SMTPUTF8 (RFC 6531): only then are addresses whose local part is not
    #: ASCII ("jürgen@example.de") accepted at subscribe and import, and sent. IDN domains need
    #: no such thing: they go out as A-labels (xn--…) whatever this says.
    smtputf8: bool = False
    #: Per recipient domain limits, e.g. [smtp.domains."outlook.com"] rate = 50.
    domains: dict[str, SmtpDomainSettings] = Field(default_factory=dict)


class DkimSettings(_Section):
    """[dkim]: signing domain, selector and private key file (used by the delivery engine)."""

    domain: str | None = None
    selector: str | None = None
    key_file: Path | None = None
    #: Where signatures are made: "process" (a child process, on another core), "inline"
    #: (in each sender), "auto" (a child when a core is free and a send has 1,000 messages).
    signing: Literal["auto", "process", "inline"] = "auto"


class ScheduleSettings(_Section):
    """[schedule]: when jobs run, and how old an issue may be for a job to still send it."""

    #: The zone the scheduler reports its times in (each reader's send hour is in their own).
    timezone: str = "UTC"
    #: A job does not send an issue ingested longer ago than this (after downtime, say).
    max_age_hours: float = Field(default=20.0, gt=0, le=24 * 14)
    #: How often the send job looks for deliveries whose local send hour has come.
    tick_seconds: int = Field(default=60, ge=5, le=3600)
    #: When last week's digest is assembled and sent to weekly readers (in ``timezone``).
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    weekly_time: str = "08:00"

    @field_validator("weekly_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        try:
            dt.time.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a time of day as HH:MM, e.g. 08:00") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, e.g. Europe/Berlin") from None
        return value


class DeliverySettings(_Section):
    """[delivery]: how the send path works through a run."""

    #: Deliveries a sender claims per batch: memory and lost work stay O(batch).
    batch_size: int = Field(default=500, ge=1, le=100_000)
    #: On PostgreSQL: how long a sender's claim on a delivery holds without renewal. A live
    #: sender renews its claims as it goes; a dead one's lapse after this, and another sender
    #: takes them over.
    lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    #: Our side's refusals (a refused sender, a blocklist, a content filter) in a row that
    #: pause a run by itself…
    pause_after: int = Field(default=20, ge=1, le=100_000)
    #: …or their share of the last ``pause_window`` outcomes.
    pause_ratio: float = Field(default=0.02, gt=0, le=1)
    pause_window: int = Field(default=500, ge=1, le=100_000)


class BouncesSettings(_Section):
    """[bounces]: when soft bounces (mailbox full, greylisting gone wrong, …) stop the mail."""

    #: Soft bounces within the window that suppress an address, like one hard bounce.
    soft_limit: int = Field(default=3, ge=1, le=100)
    soft_window_days: int = Field(default=30, ge=1, le=365)
    #: A Maildir (or mbox) the bounce address delivers to; `serve` reads it every
    #: ``poll_minutes``. Unset: run `briefmail bounces process` yourself.
    mailbox: Path | None = None
    poll_minutes: int = Field(default=10, ge=1, le=24 * 60)


class TopicsSettings(_Section):
    """[topics]: a taxonomy file to use instead of the built-in one."""

    file: Path | None = None


class SecuritySettings(_Section):
    """[security]: where the token key lives when BRIEFMAIL_SECRET_KEY is not set."""

    secret_key_file: Path = Path("briefmail.secret")


class WebSettings(_Section):
    """[web]: the public pages behind a reverse proxy."""

    #: Proxies (IPs or CIDRs) whose X-Forwarded-For is believed; default none: the peer's IP.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)


class ConsoleSettings(_Section):
    """[console]: the operators' console at /admin and the API at /api/v1."""

    #: How long a console sign-in lasts before the operator signs in again.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    #: Failed sign-ins allowed per client address and per account in `login_window_minutes`.
    login_attempts: int = Field(default=5, ge=1, le=1000)
    login_window_minutes: float = Field(default=15.0, gt=0, le=24 * 60)


#: The events a webhook can ask for (see briefmail.services.webhooks).
WEBHOOK_EVENTS = (
    "issue.approved",
    "run.started",
    "run.finished",
    "run.paused",
    "subscriber.confirmed",
    "subscriber.unsubscribed",
    "subscriber.suppressed",
    "delivery.failed",
)


class WebhookSettings(_Section):
    """[[webhooks]]: an address told of events, each POST signed with HMAC-SHA256."""

    url: str
    #: The events it receives (default: every one).
    events: list[str] = Field(default_factory=lambda: list(WEBHOOK_EVENTS))
    #: The environment variable that holds the signing secret (secrets never live in the file).
    secret_env: str
    #: A name for logs and the console (default: the url).
    name: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(WEBHOOK_EVENTS))
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r} (known: {', '.join(WEBHOOK_EVENTS)})")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must be an http(s) address")
        return value

    @property
    def label(self) -> str:
        """The webhook's name, or its address."""
        return self.name or self.url


class SourceSettings(_Section):
    """[[sources]]: a feed or a folder that issues arrive from by themselves."""

    #: The slug of the list the source's issues go to.
    list: str
    #: An RSS, Atom or JSON Feed address.
    url: str | None = None
    #: A folder watched for new issue files.
    folder: Path | None = None
    #: "auto": what arrives is approved at once; "editor": it waits as a draft.
    approve: Literal["auto", "editor"] = "editor"
    poll_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)
    #: A name for logs and `briefmail sources list` (default: the list and the url or folder).
    name: str | None = None
    #: The source format of what arrives (auto: detected, as for `briefmail ingest`).
    format: str = "auto"
    #: How long one request (the feed, or an entry's page) may take before it is given up.
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)

    def model_post_init(self, context: Any, /) -> None:
        """Exactly one of url and folder; a url must be http(s)."""
        if (self.url is None) == (self.folder is None):
            raise ValueError("a source needs exactly one of url or folder")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must be an http(s) address")

    @property
    def label(self) -> str:
        """The source's name, or what it reads from."""
        return self.name or f"{self.list}:{self.url or self.folder}"


class Settings(BaseSettings):
    """Every setting briefmail reads, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix="BRIEFMAIL_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    newsletter: NewsletterSettings = NewsletterSettings()
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    dkim: DkimSettings = DkimSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    delivery: DeliverySettings = DeliverySettings()
    bounces: BouncesSettings = BouncesSettings()
    topics: TopicsSettings = TopicsSettings()
    security: SecuritySettings = SecuritySettings()
    web: WebSettings = WebSettings()
    console: ConsoleSettings = ConsoleSettings()
    publisher: PublisherSettings = PublisherSettings()
    lists: dict[str, ListSettings] = Field(default_factory=dict)
    sources: list[SourceSettings] = Field(default_factory=list)
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    secret_key: SecretStr | None = None
    #: The file these settings came from (None: defaults only). Not a config key.
    config_file: Path | None = Field(default=None, exclude=True)
    _brands: dict[str, Brand] | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment overrides the file (passed in as init values)."""
        return (env_settings, init_settings)

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config are relative to the config file's folder."""
        return self.config_file.parent if self.config_file else Path.cwd()

    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute against base_dir."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database.url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return url.render_as_string(hide_password=False)
        if url.database.startswith("file:"):
            return self.database.url  # a SQLite URI (?mode=ro&uri=true): as written
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str(self.base_dir / path))
        return url.render_as_string(hide_password=False)

    def brands(self) -> dict[str, Brand]:
        """Each configured list's look (slug → Brand; "" the publisher's), logos read once."""
        if self._brands is None:
            name = self.publisher.name or self.newsletter.name
            self._brands = resolve_brands(self.publisher, self.lists, name, self.base_dir)
        return self._brands

    def brand(self, slug: str) -> Brand:
        """One list's look: its own section's, else the publisher's."""
        brands = self.brands()
        return brands.get(slug, brands[""])

    def resolve(self, path: Path) -> Path:
        """A configured path made absolute against base_dir."""
        return path if path.is_absolute() else self.base_dir / path

    def secret(self) -> str:
        """The token signing key: BRIEFMAIL_SECRET_KEY, else the key file `init` wrote."""
        if self.secret_key is not None:
            return _long_enough(self.secret_key.get_secret_value(), "BRIEFMAIL_SECRET_KEY")
        key_file = self.resolve(self.security.secret_key_file)
        try:
            with key_file.open(encoding="utf-8") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                if mode & 0o077:
                    # Anyone who reads the key can unsubscribe or re-subscribe every reader.
                    raise SettingsError(
                        f"{key_file}: the token key is readable by other users "
                        f"(mode {mode & 0o777:o}); run `chmod 600 {key_file}`"
                    )
                key = handle.read().strip()
        except FileNotFoundError:
            raise SettingsError(
                f"no secret key: set BRIEFMAIL_SECRET_KEY or run `briefmail init` "
                f"(which writes {key_file})"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SettingsError(f"{key_file}: cannot read the token key: {reason}") from None
        return _long_enough(key, str(key_file))


def _long_enough(key: str, origin: str) -> str:
    """The key, or SettingsError saying the minimum when it is too short to sign with."""
    if len(key) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"{origin}: the secret key is too short ({len(key)} characters); it needs at least "
            f"{MIN_SECRET_LENGTH}: `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return key


class _IsolatedSettings(Settings):
    """Settings from given values only: the environment is not consulted."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values passed in."""
        return (init_settings,)


def isolated_settings(**values: Any) -> Settings:
    """Settings built from ``values`` alone, ignoring BRIEFMAIL_* (the demo must be hermetic)."""
    return _IsolatedSettings(**values)


def find_config(explicit: Path | None) -> Path | None:
    """The config file to read: explicit path, $BRIEFMAIL_CONFIG, or ./briefmail.toml if present."""
    if explicit is not None:
        return explicit
    if env := os.environ.get("BRIEFMAIL_CONFIG"):
        return Path(env)
    local = Path.cwd() / CONFIG_FILE
    return local if local.exists() else None


def load_settings(config: Path | None = None) -> Settings:
    """Load and validate settings (file, then BRIEFMAIL_* variables); errors name file and key."""
    path = find_config(config)
    data: dict[str, Any] = {}
    origin = "environment"
    if path is not None:
        origin = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{path}: config file not found") from None
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: {exc}") from None
        for keys in _SECRET_KEYS:
            if _dig(data, keys) is not None:
                env = "BRIEFMAIL_" + "__".join(k.upper() for k in keys)
                raise SettingsError(
                    f"{path}: {'.'.join(keys)}: secrets are read only from the environment; "
                    f"remove it from the file and set {env}"
                )
        _refuse_database_password(path, _dig(data, ("database", "url")))
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"{origin}: {problems}") from None
    settings.config_file = path.resolve() if path is not None else None
    try:
        settings.brands()  # read and check the logos now, not at the first page or send
    except BrandError as exc:
        raise SettingsError(f"{origin}: {exc}") from None
    return settings


def _refuse_database_password(path: Path, url: Any) -> None:
    """A password inside database.url in the file is a secret in the file: refused."""
    if not isinstance(url, str):
        return  # not a string: validation names the key
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # validation names the key
    # libpq also takes the password as a query parameter (?password=…).
    if parsed.password or "password" in parsed.query:
        raise SettingsError(
            f"{path}: database.url: contains a password; secrets are read only from the "
            f"environment: remove the URL's password from the file and set the whole URL in "
            f"BRIEFMAIL_DATABASE__URL"
        )


def _dig(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


_DEFAULT_CONFIG = """\
# briefmail configuration. Every key can be overridden by an environment variable:
# BRIEFMAIL_<SECTION>__<KEY>, e.g. BRIEFMAIL_SMTP__HOST. Secrets (BRIEFMAIL_SMTP__PASSWORD,
# BRIEFMAIL_SECRET_KEY) are read only from the environment.

[newsletter]
slug = "brief"                              # the default list; --list SLUG picks another
name = "China AI Brief"
from = "China AI Brief <brief@example.org>"
base_url = "http://localhost:8000"          # public URL of the web pages, used in every link
# list_id = "China AI Brief <brief.example.org>"
postal_address = ""                          # required by anti-spam law in most countries

[publisher]                                 # the look of the pages and e-mails
# description = "What the newsletter is, in one paragraph (front page, subscribe form)."
# accent = "#0b3d91"                        # must reach 4.5:1 against white (WCAG AA)
# logo = "logo.png"                         # PNG, JPEG or GIF of at most 24 KB, embedded
# website = "https://example.org"
# privacy_url = "https://example.org/privacy"

[database]
url = "sqlite:///briefmail.db"              # relative to this file; or postgresql+psycopg://...

[smtp]
host = "localhost"
port = 25
security = "none"                           # none | starttls | tls
# username = "mailer"

[dkim]
# domain = "example.org"
# selector = "brief"
# key_file = "dkim.key"
# signing = "auto"                          # auto | process | inline: RSA on a spare core

[schedule]
# Each reader gets the daily brief at their own local hour (07:00 unless they chose another).
timezone = "UTC"
max_age_hours = 20                          # older issues are not sent by the scheduler
tick_seconds = 60                           # how often it looks for what is due
weekly_day = "mon"                          # last week's digest goes to weekly readers
weekly_time = "08:00"
"""


def write_default_config(path: Path) -> bool:
    """Write a commented default config unless one exists; True if written."""
    if path.exists():
        return False
    path.write_text(_DEFAULT_CONFIG, encoding="utf-8")
    return True


def write_secret_key(path: Path) -> bool:
    """Create a random token key file (mode 0600) unless one exists; True if written."""
    if path.exists():
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return True
