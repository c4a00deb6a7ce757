"""Action tokens are bound to a purpose, a key and a secret, and detect tampering."""

from __future__ import annotations

import json
import random
import time
import zlib

import pytest
from itsdangerous import SignatureExpired, URLSafeTimedSerializer

from subscribers.tokens import (
    CONFIRM_MAX_AGE,
    InvalidToken,
    Purpose,
    TokenClaims,
    TokenSigner,
    _deflated,
)

SIGNER = TokenSigner("k" * 32)


def test_round_trip() -> None:
    """A token reads back as the subscriptions and key it was made for."""
    token = SIGNER.make(Purpose.UNSUBSCRIBE, 42, "abc")
    assert SIGNER.read(Purpose.UNSUBSCRIBE, token) == TokenClaims((42,), "abc")
    many = SIGNER.make(Purpose.CONFIRM, [1, 2], "abc")
    assert SIGNER.read(Purpose.CONFIRM, many).subscription_ids == (1, 2)


@pytest.mark.parametrize(
    "token",
    [
        SIGNER.make(Purpose.PREFERENCES, 42, "abc"),  # another purpose
        TokenSigner("x" * 32).make(Purpose.UNSUBSCRIBE, 42, "abc"),  # another secret
        SIGNER.make(Purpose.UNSUBSCRIBE, 42, "abc")[:-2] + "xx",  # altered
        "garbage",
    ],
    # Fixed ids: the tokens carry a timestamp, and xdist's workers must collect the same names.
    ids=["another-purpose", "another-secret", "altered", "garbage"],
)
def test_foreign_or_altered_tokens_are_refused(token: str) -> None:
    """Tokens of another purpose or secret, or altered ones, are invalid."""
    with pytest.raises(InvalidToken):
        SIGNER.read(Purpose.UNSUBSCRIBE, token)


def test_expired_tokens_are_refused() -> None:
    """A confirmation token older than its max age is refused as expired."""
    token = SIGNER.make(Purpose.CONFIRM, 1, "abc")
    with pytest.raises(InvalidToken, match="expired"):
        SIGNER.read(Purpose.CONFIRM, token, max_age=-1)


def test_csrf_tokens_are_scoped() -> None:
    """A form token works for its own page only."""
    token = SIGNER.make_csrf("subscribe")
    SIGNER.check_csrf(token, "subscribe")
    with pytest.raises(InvalidToken, match="does not belong"):
        SIGNER.check_csrf(token, "preferences:xyz")
    with pytest.raises(InvalidToken, match="expired"):
        SIGNER.check_csrf("forged", "subscribe")


def test_short_keys_are_refused() -> None:
    """A weak secret key is refused at construction."""
    with pytest.raises(ValueError, match="at least 16"):
        TokenSigner("short")


# --- the same tokens itsdangerous makes ------------------------------------------------------

SECRET = "k" * 32


def old_serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    """How tokens were made before they were made by hand: itsdangerous, salt per purpose."""
    return URLSafeTimedSerializer(SECRET, salt=f"briefmail.{purpose.value}")


@pytest.mark.parametrize("purpose", list(Purpose), ids=[p.value for p in Purpose])
@pytest.mark.parametrize(
    "value",
    [[[42], "abc"], [[1, 2, 3], "Zk3_-9x"], [list(range(1, 40)), "aaaa" * 20], ["subscribe", ""]],
    ids=["one", "three", "compressed", "csrf"],
)
def test_tokens_are_byte_for_byte_the_ones_itsdangerous_makes(
    purpose: Purpose, value: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the same second, each purpose's token (zlib'd or not) equals itsdangerous' bytes."""
    monkeypatch.setattr(time, "time", lambda: 1_780_000_000.7)
    ours = TokenSigner(SECRET)._formats[purpose].dumps(value)
    assert ours == old_serializer(purpose).dumps(value)
    if value[0] == list(range(1, 40)):
        assert ours.startswith(".")  # the compressed form is covered too


def test_a_token_made_the_old_way_reads_the_new_way() -> None:
    """An itsdangerous token of each kind (links already in inboxes) reads with the new code."""
    for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.CONFIRM):
        old = old_serializer(purpose).dumps([[7, 8], "key1"])
        assert SIGNER.read(purpose, old) == TokenClaims((7, 8), "key1")
    SIGNER.check_csrf(
        old_serializer(Purpose.CSRF).dumps(["subscribe", "cookie"]), "subscribe", "cookie"
    )
    with pytest.raises(InvalidToken):
        SIGNER.read(Purpose.UNSUBSCRIBE, old_serializer(Purpose.PREFERENCES).dumps([[7], "k"]))


def test_a_token_made_the_new_way_reads_the_old_way() -> None:
    """itsdangerous reads what the new code makes, for every purpose, with and without max_age."""
    for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.CONFIRM):
        token = SIGNER.make(purpose, [5], "key2")
        assert old_serializer(purpose).loads(token) == [[5], "key2"]
        assert old_serializer(purpose).loads(token, max_age=60) == [[5], "key2"]
    csrf = SIGNER.make_csrf("preferences:9", "cookie")
    assert old_serializer(Purpose.CSRF).loads(csrf, max_age=60) == ["preferences:9", "cookie"]


class TestTimedConfirmation:
    def test_an_old_confirmation_token_expires_after_its_max_age(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An itsdangerous confirmation token is read within the week and refused after it."""
        monkeypatch.setattr(time, "time", lambda: 1_780_000_000.0)
        old = old_serializer(Purpose.CONFIRM).dumps([[3], "key"])
        monkeypatch.setattr(time, "time", lambda: 1_780_000_000.0 + CONFIRM_MAX_AGE)
        assert SIGNER.read(Purpose.CONFIRM, old, max_age=CONFIRM_MAX_AGE).subscription_ids == (3,)
        monkeypatch.setattr(time, "time", lambda: 1_780_000_001.0 + CONFIRM_MAX_AGE)
        with pytest.raises(InvalidToken, match="expired"):
            SIGNER.read(Purpose.CONFIRM, old, max_age=CONFIRM_MAX_AGE)
        assert SIGNER.read(Purpose.CONFIRM, old).key == "key"  # no max age: no expiry

    def test_a_new_confirmation_token_expires_for_itsdangerous_at_the_same_second(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """itsdangerous dates a new token as the new code does: valid to the week, then expired."""
        monkeypatch.setattr(time, "time", lambda: 1_780_000_000.0)
        token = SIGNER.make(Purpose.CONFIRM, 3, "key")
        monkeypatch.setattr(time, "time", lambda: 1_780_000_000.0 + CONFIRM_MAX_AGE)
        assert old_serializer(Purpose.CONFIRM).loads(token, max_age=CONFIRM_MAX_AGE) == [[3], "key"]
        monkeypatch.setattr(time, "time", lambda: 1_780_000_001.0 + CONFIRM_MAX_AGE)
        with pytest.raises(SignatureExpired):
            old_serializer(Purpose.CONFIRM).loads(token, max_age=CONFIRM_MAX_AGE)
        with pytest.raises(InvalidToken, match="expired"):
            SIGNER.read(Purpose.CONFIRM, token, max_age=CONFIRM_MAX_AGE)

    def test_a_token_dated_in_the_future_is_refused_under_a_max_age(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """As itsdangerous does, a negative age counts as expired when a max age is asked for."""
        monkeypatch.setattr(time, "time", lambda: 1_780_000_100.0)
        token = SIGNER.make(Purpose.CONFIRM, 3, "key")
        monkeypatch.setattr(time, "time", lambda: 1_780_000_000.0)
        with pytest.raises(InvalidToken, match="expired"):
            SIGNER.read(Purpose.CONFIRM, token, max_age=CONFIRM_MAX_AGE)


@pytest.mark.parametrize(
    "token",
    ["", ".", "..", "a.b.c", "a.b", "e30..x", "\udcff.a.b", ".eJzT.AAAA.xx"],
    ids=["empty", "dot", "dots", "three-parts", "two-parts", "no-stamp", "surrogate", "zlib"],
)
def test_malformed_tokens_are_invalid_not_errors(token: str) -> None:
    """Whatever arrives in a link, reading it refuses it with InvalidToken, never another error."""
    with pytest.raises(InvalidToken):
        SIGNER.read(Purpose.UNSUBSCRIBE, token)
    with pytest.raises(InvalidToken):
        SIGNER.check_csrf(token, "subscribe")


def test_the_small_deflate_probe_decides_as_zlib_compress_does() -> None:
    """For payloads up to the probe's size, compressing pays off exactly when zlib says so."""
    rng = random.Random(22)
    alphabet = "abc_-0123456789XYZ"
    for _ in range(20_000):
        ids = [rng.randint(1, 10 ** rng.randint(1, 7)) for _ in range(rng.choice((1, 1, 2, 5, 12)))]
        key = "".join(
            rng.choice(alphabet[: rng.randint(1, len(alphabet))]) for _ in range(rng.randint(0, 60))
        )
        payload = json.dumps([ids, key], separators=(",", ":")).encode()
        compressed = zlib.compress(payload)
        expected = compressed if len(compressed) < len(payload) - 1 else None
        assert _deflated(payload) == expected, payload
