"""Action tokens are bound to a purpose, a key and a secret, and detect tampering."""

from __future__ import annotations

import pytest

from subscribers.tokens import InvalidToken, Purpose, TokenClaims, TokenSigner

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
