"""Action tokens are bound to a purpose and a key, and detect tampering."""

from __future__ import annotations

import pytest

from subscribers.tokens import InvalidToken, Purpose, TokenSigner

SIGNER = TokenSigner("k" * 32)


def test_round_trip() -> None:
    """A token reads back as the subscription id it was made for."""
    assert SIGNER.read(Purpose.UNSUBSCRIBE, SIGNER.make(Purpose.UNSUBSCRIBE, 42)) == 42


@pytest.mark.parametrize(
    "token",
    [
        SIGNER.make(Purpose.PREFERENCES, 42),  # another purpose
        TokenSigner("x" * 32).make(Purpose.UNSUBSCRIBE, 42),  # another key
        SIGNER.make(Purpose.UNSUBSCRIBE, 42)[:-2] + "xx",  # altered
        "garbage",
    ],
)
def test_foreign_or_altered_tokens_are_refused(token: str) -> None:
    """Tokens of another purpose or key, or altered ones, are invalid."""
    with pytest.raises(InvalidToken):
        SIGNER.read(Purpose.UNSUBSCRIBE, token)


def test_short_keys_are_refused() -> None:
    """A weak secret key is refused at construction."""
    with pytest.raises(ValueError, match="at least 16"):
        TokenSigner("short")
