"""The bounce corpus: every sample report, read as a mail operator would, its class pinned.

``vendors/`` holds reports written after what Microsoft 365 / Outlook.com, Gmail, Yahoo,
Postfix, Sendmail, OpenSMTPD, Exim and Amazon SES send, and RFC 3464 / RFC 5965's examples;
``flufl/`` holds flufl.bounce's own test data (Apache-2.0, see its NOTICE). Each sample's
(recipient, reason) pairs are pinned: a change in reading any of them fails here.
"""

from __future__ import annotations

import pytest

from mailer.bounces import parse_report
from mailer.replies import Reason
from tests.conftest import FIXTURES

GONE, FULL, EXPIRED, UNKNOWN = Reason.GONE, Reason.FULL, Reason.EXPIRED, Reason.UNKNOWN
POLICY, SENDER, CONTENT, COMPLAINT = Reason.POLICY, Reason.SENDER, Reason.CONTENT, Reason.COMPLAINT
CORPUS = FIXTURES / "bounces"

EXPECTED: list[tuple[str, list[tuple[str | None, Reason]]]] = [
    ("vendors/dsn-denied-by-policy.eml", [("reader@example.com", POLICY)]),
    ("vendors/dsn-expired-action.eml", [("slow@example.com", EXPIRED)]),
    ("vendors/dsn-failure-action.eml", [("lost@example.com", GONE)]),
    ("vendors/dsn-forwarded.eml", [("reader2@example.net", POLICY)]),
    ("vendors/dsn-global.eml", [("读者@example.cn", GONE)]),
    ("vendors/dsn-no-recipient.eml", [(None, GONE)]),
    ("vendors/dsn-quoted-local-part.eml", [('"john smith"@example.com', GONE)]),
    ("vendors/exim-initial-connection.eml", [("reader@example.com", POLICY)]),
    ("vendors/exim-mail-from.eml", [("reader@example.net", SENDER)]),
    ("vendors/exim-wrapped.eml", [("departed@example.com", GONE)]),
    ("vendors/exim-x-failed-recipients.eml", [("stuffed@example.com", FULL)]),
    ("vendors/gmail-over-quota.eml", [("full.reader@gmail.example", FULL)]),
    ("vendors/gmail-rate-limited.eml", [("popular@gmail.example", POLICY)]),
    ("vendors/gmail-unauthenticated.eml", [("strict@gmail.example", POLICY)]),
    ("vendors/ms365-banned-ip.eml", [("staff@contoso.example", POLICY)]),
    ("vendors/ms365-dbeb.eml", [("left@contoso.example", GONE)]),
    ("vendors/ms365-mailbox-full.eml", [("busy@fabrikam.example", FULL)]),
    ("vendors/opensmtpd-bare.eml", [("who@example.org", UNKNOWN)]),
    ("vendors/opensmtpd-error.eml", [("small.box@example.org", FULL)]),
    ("vendors/opensmtpd-policy.eml", [("guarded@example.org", POLICY)]),
    ("vendors/outlook-blocklist.eml", [("reader@outlook.example", POLICY)]),
    ("vendors/outlook-unavailable.eml", [("closed@hotmail.example", GONE)]),
    ("vendors/postfix-end-of-data-unknown.eml", [("reader4@example.net", UNKNOWN)]),
    ("vendors/postfix-sender-rejected.eml", [("reader@example.net", SENDER)]),
    ("vendors/postfix-spamhaus.eml", [("reader2@example.net", POLICY)]),
    ("vendors/postfix-spf.eml", [("reader3@example.net", POLICY)]),
    (
        "vendors/rfc3464-multi.eml",
        [("arathib@vnet.example.com", GONE), ("meyer@cmu.example.edu", GONE)],
    ),
    ("vendors/rfc3464-timeout.eml", [("louisl@larry.slip.umd.example", EXPIRED)]),
    ("vendors/rfc5965-arf.eml", [("somebody@example.net", COMPLAINT)]),
    ("vendors/sendmail-dsn-quota.eml", [("hoarder@example.edu", FULL)]),
    ("vendors/sendmail-transcript.eml", [("graduated@example.edu", GONE)]),
    ("vendors/ses-complaint.eml", [("angry@example.com", COMPLAINT)]),
    ("vendors/ses-permanent.eml", [("nobody@example.com", GONE)]),
    ("vendors/ses-suppressed.eml", [("listed@example.com", POLICY)]),
    ("vendors/ses-transient-full.eml", [("packed@example.com", FULL)]),
    ("vendors/yahoo-deferred-gave-up.eml", [("reader@yahoo.example", POLICY)]),
    ("vendors/yahoo-dsn-disabled.eml", [("old.account@yahoo.example", GONE)]),
    ("vendors/yahoo-no-account.eml", [("nobody.here@yahoo.example", GONE)]),
    ("flufl/dsn_01.eml", [("userx@example.com", FULL)]),
    ("flufl/dsn_02.eml", [("zzzzz@example.uk", EXPIRED)]),
    ("flufl/dsn_03.eml", [("userx@example.be", CONTENT)]),
    ("flufl/dsn_04.eml", [("userx@example.ch", FULL)]),
    ("flufl/dsn_05.eml", []),
    ("flufl/dsn_09.eml", [("userx@example.com", UNKNOWN)]),
    ("flufl/dsn_10.eml", [("anne.person@dom.ain", GONE)]),
    ("flufl/dsn_12.eml", [("userx@example.jp", GONE)]),
    ("flufl/dsn_14.eml", [("userx@example.com.dk", GONE)]),
    ("flufl/dsn_16.eml", [("userx@example.com", GONE)]),
    ("flufl/dsn_18.eml", [("email@replaced.net", GONE)]),
    ("flufl/dumbass_01.eml", []),
    ("flufl/exim_01.eml", [("userx@its.example.nl", GONE)]),
    ("flufl/groupwise_01.eml", [("userx@example.EDU", GONE)]),
    ("flufl/llnl_01.eml", [("user1@example.gov", UNKNOWN)]),
    ("flufl/microsoft_01.eml", [("userx@example.COM", GONE)]),
    ("flufl/microsoft_03.eml", [("userx@example.com", UNKNOWN)]),
    ("flufl/newmailru_01.eml", [("zzzzz@newmail.ru", FULL)]),
    ("flufl/postfix_01.eml", [("xxxxx@local.ie", GONE)]),
    ("flufl/postfix_02.eml", [("yyyyy@digicool.com", EXPIRED)]),
    ("flufl/postfix_04.eml", [("userx@mail1.example.com", FULL)]),
    ("flufl/postfix_05.eml", [("userx@example.net", UNKNOWN)]),
    ("flufl/qmail_02.eml", [("userx@example.com", FULL)]),
    ("flufl/qmail_03.eml", [("userx@example.jp", GONE)]),
    ("flufl/qmail_04.eml", [("userx@example.au", GONE)]),
    ("flufl/qmail_05.eml", [("userx@example.com", GONE)]),
    ("flufl/qmail_06.eml", [("ntl@xxx.com", FULL)]),
    ("flufl/sendmail_01.eml", [("zzzzz@shaft.coal.nl", UNKNOWN), ("zzzzz@nfg.nl", UNKNOWN)]),
    ("flufl/simple_03.eml", []),
    ("flufl/simple_05.eml", [("userx@example.net", GONE)]),
    ("flufl/simple_07.eml", [("userx@example.net", FULL)]),
    ("flufl/simple_14.eml", [("usery@example.com", UNKNOWN), ("userx@example.com", FULL)]),
    ("flufl/simple_15.eml", [("userx@example.be", GONE)]),
    ("flufl/simple_21.eml", []),
    ("flufl/simple_29.eml", [("userx@example.com", GONE)]),
    ("flufl/simple_36.eml", [("userx@example.com", GONE)]),
    ("flufl/simple_39.eml", [("userx@example.ru", GONE)]),
    ("flufl/simple_41.eml", [("userx@example.com", GONE)]),
    ("flufl/simple_42.eml", [("david...@gmail.com", POLICY)]),
    ("flufl/simple_45.eml", [("subscriber@earthlink.net", FULL)]),
    (
        "flufl/smtp32_04.eml",
        [("after_another@example.net", GONE), ("one_bad_address@example.net", GONE)],
    ),
    ("flufl/yahoo_01.eml", [("userx@example.com", EXPIRED)]),
    ("flufl/yahoo_02.eml", [("userx@example.es", FULL)]),
    ("flufl/yahoo_03.eml", [("userx@example.com", GONE)]),
    (
        "flufl/yahoo_10.eml",
        [("userx@example.com", GONE), ("usery@example.com", GONE), ("userz@example.com", GONE)],
    ),
    ("flufl/yahoo_11.eml", [("bad_user@aol.com", GONE)]),
    ("flufl/yahoo_13.eml", [("bogus-address@example.net", GONE)]),
]


def read(name: str) -> list[tuple[str | None, Reason]]:
    return [(e.recipient, e.reason) for e in parse_report((CORPUS / name).read_bytes())]


class TestCorpus:
    """Each sample gives exactly the pinned recipients and reasons."""

    @pytest.mark.parametrize(("name", "expected"), EXPECTED, ids=[name for name, _ in EXPECTED])
    def test_sample(self, name: str, expected: list[tuple[str | None, Reason]]) -> None:
        """The sample's events are the pinned (recipient, reason) pairs, in order."""
        assert read(name) == expected

    def test_every_sample_is_pinned(self) -> None:
        """No sample in the corpus folders is left without an expectation."""
        on_disk = {
            f"{path.parent.name}/{path.name}"
            for folder in ("vendors", "flufl")
            for path in (CORPUS / folder).glob("*.eml")
        }
        assert on_disk == {name for name, _ in EXPECTED}

    @pytest.mark.parametrize(
        "name",
        [
            "vendors/dsn-denied-by-policy.eml",
            "vendors/postfix-sender-rejected.eml",
            "vendors/exim-mail-from.eml",
            "vendors/exim-initial-connection.eml",
            "vendors/sendmail-dsn-quota.eml",
            "vendors/opensmtpd-bare.eml",
            "vendors/opensmtpd-policy.eml",
            "vendors/exim-x-failed-recipients.eml",
            "vendors/postfix-spamhaus.eml",
            "vendors/postfix-spf.eml",
            "vendors/ms365-banned-ip.eml",
            "vendors/outlook-blocklist.eml",
            "vendors/gmail-unauthenticated.eml",
            "vendors/gmail-rate-limited.eml",
            "vendors/yahoo-deferred-gave-up.eml",
            "vendors/dsn-expired-action.eml",
            "vendors/rfc3464-timeout.eml",
            "vendors/postfix-end-of-data-unknown.eml",
        ],
    )
    def test_policy_sender_quota_and_expiry_never_suppress(self, name: str) -> None:
        """A report about policy, our sender, a quota or an expiry suppresses nobody."""
        events = parse_report((CORPUS / name).read_bytes())
        assert events and not any(event.suppresses for event in events)

    def test_soft_classes_are_about_the_reader(self) -> None:
        """Only full, temporary and expired count as soft; policy, sender, content never do."""
        counted = {reason for reason in Reason if reason.counts_as_soft}
        assert counted == {Reason.FULL, Reason.TEMPORARY, Reason.EXPIRED}
