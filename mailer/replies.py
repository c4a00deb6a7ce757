"""Whose fault is a refusal: one reading of SMTP replies and bounce reports, for both.

A refusal protects or harms a reader depending on what it is *about*. Only a refusal of the
recipient saying the mailbox or domain does not exist means the address is gone; everything
else — a refused sender, a blocklisted IP, a broken SPF record, spam-looking content, a full
mailbox, a provider throttling us — is either our side's problem or a passing state of the
reader's mailbox, and suppressing a reader for it would lose a real person.

Every reply or report status gets one `Reason`:

    reason      meaning                                         suppresses  soft count  our side
    ----------  ----------------------------------------------  ----------  ----------  --------
    gone        mailbox or domain does not exist                yes         -           -
    full        mailbox over quota                              -           yes         -
    temporary   the receiving side cannot take it now           -           yes         -
    expired     the relay gave up after retrying for days       -           yes         -
    policy      reputation, blocklist, relaying, authentication -           -           yes
    sender      our envelope sender or From is refused          -           -           yes
    content     the message itself (spam, virus, size)          -           -           yes
    complaint   the reader marked the message as spam           yes         -           -
    unknown     a refusal nothing above explains                -           -           -

How a reply is read, first rule that applies wins:

1. The stage it answers. A refusal at the greeting, EHLO, AUTH or MAIL FROM is never about the
   recipient: it is `policy` (or `sender` at MAIL FROM, `temporary` for 4xx).
2. The enhanced status code (RFC 3463), when it is specific (not X.0.0). 5.1.1, 5.1.2, 5.1.3,
   5.1.6, 5.1.10 and 5.7.27 (null MX) are `gone` — at RCPT, or after DATA for a transaction of
   one recipient; 5.1.7/5.1.8 `sender`; 5.2.2 `full`; 5.2.3, 5.3.4 and 5.6.x `content`; 5.4.7
   `expired`; other 5.7.x `policy`.
3. The words, for an unspecific code, in this order: quota, expiry, a refused sender,
   blocklists and authentication (SPF, DMARC, PTR), content, throttling, unknown users — so
   "user unknown … blocked using Spamhaus" is a blocklist, not a missing user. Wording alone
   never makes a refusal after DATA `gone`.
4. The basic code, when no specific enhanced code contradicts it: 550/551/553 at RCPT are
   `gone`, 552 `full`; any other permanent refusal is `unknown`, any 4xx `temporary`.

A bounce report (`classify_status`) is read by the same rules, at the stage its words name
(Exim's "after MAIL FROM:" or "after initial connection", Postfix's "in reply to end of DATA
command", the last ">>>" command of Sendmail's transcript), else at RCPT. A report with neither
an enhanced code nor a reply code is a permanent failure the words alone explain, else
`unknown`; a failed report of a temporary refusal (or Action "expired") is `expired`.

A reply that names our envelope sender (Postfix with ``smtpd_delay_reject`` refuses the sender
at RCPT: "550 5.1.0 <bounces+…>: Sender address rejected") is about the sender whatever its
stage or code.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "Reason",
    "Stage",
    "Verdict",
    "classify_reply",
    "classify_status",
    "enhanced_status",
    "stage_named",
]


class Stage(enum.StrEnum):
    """The SMTP command a reply answers."""

    CONNECT = "connect"
    EHLO = "ehlo"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    #: The reply to the message itself (after the final dot).
    BODY = "body"


#: Stages before any recipient is named: a refusal there is never about a reader.
_BEFORE_RECIPIENT = (Stage.CONNECT, Stage.EHLO, Stage.AUTH, Stage.MAIL)


class Reason(enum.StrEnum):
    """What a refusal or a bounce is about (see the module's table)."""

    GONE = "gone"
    FULL = "full"
    TEMPORARY = "temporary"
    EXPIRED = "expired"
    POLICY = "policy"
    SENDER = "sender"
    CONTENT = "content"
    COMPLAINT = "complaint"
    UNKNOWN = "unknown"

    @property
    def suppresses(self) -> bool:
        """Whether this alone stops all mail to the address (gone, complaint)."""
        return self in (Reason.GONE, Reason.COMPLAINT)

    @property
    def counts_as_soft(self) -> bool:
        """Whether it counts towards the soft-bounce limit: about the reader's mailbox, passing."""
        return self in (Reason.FULL, Reason.TEMPORARY, Reason.EXPIRED)

    @property
    def ours(self) -> bool:
        """Whether it is our side's fault (sender, policy, content): a run of them pauses a send."""
        return self in (Reason.POLICY, Reason.SENDER, Reason.CONTENT)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One reply read: its reason, whether retrying can help, and the status code it carried."""

    reason: Reason
    #: True when sending the same message again will not help (a 5xx, or a final DSN failure).
    permanent: bool
    #: The enhanced status code found ("5.1.1"), if any.
    status: str | None = None

    @property
    def hard_bounce(self) -> bool:
        """Whether the address should be suppressed for this refusal."""
        return self.reason.suppresses

    @property
    def can_never_succeed(self) -> bool:
        """Whether the delivery must fail rather than stay owed (permanent and not our doing).

        Our side's refusals keep the delivery owed so a resumed run sends it once the cause is
        fixed — except a message too large, which no fix of the relay will let through.
        """
        if not self.permanent:
            return False
        if self.reason is Reason.CONTENT:
            return self.status in _TOO_LARGE
        return not self.reason.ours


_TOO_LARGE = frozenset({"5.2.3", "5.3.4"})

# An enhanced status code, not part of a longer dotted number (an IP address, a version).
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")

# Wording, checked in this order for an unspecific code. Each is what real servers write.
_TEXT_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (
        # Microsoft's directory-based edge blocking: the recipient is not in the directory.
        Reason.GONE,
        re.compile(r"recipient address rejected: access denied", re.I),
    ),
    (
        Reason.FULL,
        re.compile(
            r"(?:mailbox|mail ?folder|inbox) (?:is )?full|over ?quota|quota (?:exceeded|full)|"
            r"exceeded (?:the |their |its )?(?:storage|quota)|insufficient (?:system )?storage|"
            r"mailbox size limit|"
            r"storage (?:allocation|space)|user.{0,20}(?:is )?over.{0,10}quota|\bquota\b",
            re.I,
        ),
    ),
    (
        Reason.EXPIRED,
        re.compile(
            r"retry time ?-?out exceeded|delivery time expired|message expired|too long in "
            r"(?:the )?queue|could not be delivered (?:with)?in|gave up",
            re.I,
        ),
    ),
    (
        Reason.SENDER,
        re.compile(
            r"sender (?:address )?(?:rejected|refused|denied|verify failed|domain|unknown)|"
            r"(?:mail ?from|envelope sender|return.path|from address|sender) (?:is )?"
            r"(?:invalid|not (?:allowed|permitted|authori[sz]ed|valid))|"
            r"unverifiable sender|after MAIL FROM|domain of sender",
            re.I,
        ),
    ),
    (
        Reason.POLICY,
        re.compile(
            r"block ?list|black ?list|spamhaus|barracuda|spamcop|sorbs|\bs?urbl\b|\brbl\b|"
            r"dnsbl|\blisted\b|reputation|blocked|banned|abuse|denied by policy|policy|"
            r"not (?:permitted|authori[sz]ed)|relay(?:ing)? (?:access )?denied|unable to relay|"
            r"rcpthosts|"
            r"\bptr\b|reverse dns|rdns|\bspf\b|dmarc|dkim|unauthenticated|authenticat|"
            r"after initial connection|client host|access denied",
            re.I,
        ),
    ),
    (
        Reason.CONTENT,
        re.compile(
            r"\bspam\b|junk mail|content (?:rejected|filter)|message content|virus|malware|"
            r"attachment|message (?:is )?too (?:big|large)|size (?:limit|exceeds)|"
            r"exceed(?:s|ed)? (?:the )?(?:maximum )?(?:\w+ )?(?:message )?size|message rejected",
            re.I,
        ),
    ),
    (
        Reason.TEMPORARY,
        re.compile(
            r"try (?:again|later)|temporar|rate (?:limit|that prevents)|too many (?!hops)|throttl|"
            r"receiving mail (?:too quickly|at a rate)|greylist|graylist|resources|deferred",
            re.I,
        ),
    ),
    (
        Reason.GONE,
        re.compile(
            r"user unknown|unknown (?:user|recipient|local part|mailbox)|no such (?:user|"
            r"mailbox|recipient|address|person|domain)|does not exist|doesn'?t exist|"
            r"mailbox (?:not found|unavailable|does not|is disabled|disabled)|"
            r"invalid (?:recipient|mailbox|address)|recipient (?:not found|unknown|invalid)|"
            r"not a valid (?:mailbox|recipient|user)|unrouteable address|no mailbox|"
            r"(?:account|mailbox|address)[^.]{0,40}(?:is |has been )(?:disabled|deactivated|"
            r"closed|inactive|suspended|discontinued)|address rejected|"
            r"host (?:or domain name )?not found|domain not found|nxdomain|user not found|"
            r"addressee unknown|unknown address|no longer (?:valid|available|active)|"
            r"(?:doesn't|does not) have an? [\w.-]{1,60} account|recipient name is not recognized",
            re.I,
        ),
    ),
)


def enhanced_status(text: str | None) -> str | None:
    """The first enhanced status code (RFC 3463) in a text, normalised ("5.01.1" → "5.1.1")."""
    match = _ENHANCED.search(text or "")
    if match is None:
        return None
    return ".".join(str(int(part)) for part in match.groups())


def _by_text(text: str) -> Reason | None:
    return next((reason for reason, rule in _TEXT_RULES if rule.search(text)), None)


def _by_status(status: str, *, recipient_stage: bool) -> Reason | None:
    """The reason a specific enhanced code gives (None: unspecific, let the words decide)."""
    klass, subject, detail = status.split(".")
    code = f"{subject}.{detail}"
    if code == "0.0":
        return None
    if code in ("1.7", "1.8"):
        return Reason.SENDER
    if code in ("1.1", "1.2", "1.3", "1.6", "1.10", "7.27"):
        return Reason.GONE if klass == "5" and recipient_stage else None
    if code == "2.2":
        return Reason.FULL
    if code in ("2.3", "3.4") or subject == "6":
        return Reason.CONTENT
    if code == "4.7":
        return Reason.EXPIRED
    if subject == "7":
        return Reason.POLICY
    return None


def classify_reply(
    stage: Stage,
    code: int | None,
    text: str | None,
    *,
    sender: str | None = None,
    status: str | None = None,
) -> Verdict:
    """Read one SMTP refusal: what it is about, and whether retrying can help.

    ``sender`` is our envelope sender: a reply that names it is about the sender. ``status``
    overrides the enhanced code found in the text. A transaction carries one recipient, so a
    recipient code after DATA is still about that recipient.
    """
    text = text or ""
    status = status or enhanced_status(text)
    permanent = code is not None and 500 <= code < 600
    if status is not None:
        # The enhanced code's class decides: a "550 4.2.2" is a temporary refusal.
        permanent = status[0] == "5"
    if sender and sender.lower() in text.lower():
        return Verdict(Reason.SENDER, permanent, status)
    named = _by_status(status, recipient_stage=stage not in _BEFORE_RECIPIENT) if status else None
    reason = named or _by_text(text)
    if not permanent:
        if reason not in (Reason.FULL, Reason.EXPIRED, *_OURS):
            reason = Reason.TEMPORARY
        return Verdict(reason, False, status)
    if stage in _BEFORE_RECIPIENT:
        if reason not in (Reason.SENDER, Reason.CONTENT):
            reason = Reason.SENDER if stage is Stage.MAIL else Reason.POLICY
        return Verdict(reason, True, status)
    if reason is Reason.GONE and named is None and stage is not Stage.RCPT:
        # Wording alone after DATA is too weak to erase a reader.
        reason = Reason.UNKNOWN
    if reason is None:
        reason = _by_basic_code(stage, code, status)
    return Verdict(reason, True, status)


_OURS = (Reason.POLICY, Reason.SENDER, Reason.CONTENT)


def _by_basic_code(stage: Stage, code: int | None, status: str | None) -> Reason:
    """The last word, for a permanent refusal nothing more specific explained."""
    subject = status.split(".")[1] if status is not None and not status.endswith(".0.0") else "1"
    if subject != "1":
        # A specific code that is not about addresses (5.2.1, 5.3.0, 5.4.1, 5.5.x …): never
        # read a bare 550 beside it as "mailbox gone".
        return Reason.TEMPORARY if subject in ("2", "3", "4") else Reason.UNKNOWN
    if stage is Stage.RCPT and code in (550, 551, 553):
        return Reason.GONE
    if code == 552:
        return Reason.FULL if stage is Stage.RCPT else Reason.CONTENT
    return Reason.UNKNOWN


#: How relays name the command a refusal answered, in the words of their reports: Exim ("after
#: RCPT TO:<…>", "after pipelined MAIL FROM:<…>", "after initial connection"), Postfix ("in reply
#: to end of DATA command"), Sendmail's transcript (">>> MAIL From:") and Yahoo ("[RCPT_TO]").
_STAGE_WORDS: tuple[tuple[Stage, re.Pattern[str]], ...] = (
    (
        Stage.CONNECT,
        re.compile(
            r"after (?:the )?initial connection|in reply to (?:the )?(?:initial )?greeting"
            r"|\[CONNECT\]",
            re.I,
        ),
    ),
    (Stage.EHLO, re.compile(r"(?:after|in reply to) (?:[EH]ELO|LHLO)\b|\[(?:EHLO|HELO)\]", re.I)),
    (
        Stage.MAIL,
        re.compile(
            r"after (?:pipelined )?MAIL FROM\b|in reply to MAIL FROM\b|\[MAIL_?FROM\]",
            re.I,
        ),
    ),
    (
        Stage.BODY,
        re.compile(
            r"after (?:the )?end of (?:data|message)|in reply to end of DATA|\[BODY\]",
            re.I,
        ),
    ),
    (Stage.DATA, re.compile(r"after (?:pipelined )?DATA\b|in reply to DATA\b", re.I)),
    (
        Stage.RCPT,
        re.compile(r"after (?:pipelined )?RCPT TO\b|in reply to RCPT TO\b|\[RCPT_?TO\]", re.I),
    ),
)


# Sendmail's transcript: the refusal answers the last command it shows.
_TRANSCRIPT = re.compile(r">>> (MAIL From|RCPT To|DATA|\.)(?=[\s:]|$)", re.I)
_TRANSCRIPT_STAGES = {"mail from": Stage.MAIL, "rcpt to": Stage.RCPT, "data": Stage.DATA}


def stage_named(text: str | None) -> Stage | None:
    """The SMTP stage a report's words say the refusal answered ("after MAIL FROM:" → MAIL)."""
    commands = _TRANSCRIPT.findall(text or "")
    if commands:
        return _TRANSCRIPT_STAGES.get(commands[-1].lower(), Stage.BODY)
    for stage, words in _STAGE_WORDS:
        if words.search(text or ""):
            return stage
    return None


def classify_status(
    status: str | None,
    diagnostic: str | None = None,
    *,
    action: str | None = None,
    stage: Stage | None = None,
) -> Verdict | None:
    """Read a bounce report's verdict on one recipient (a DSN block, or a plain-text bounce).

    ``status`` is the report's Status field (with its comment, if any), ``diagnostic`` the
    remote server's words, ``action`` the DSN Action. None when the report says the message
    was delivered, relayed, expanded or only delayed. ``stage`` is the command the refusal
    answered when the report says so; by default it is read from the words (Exim's "after
    MAIL FROM:", Postfix's "in reply to end of DATA command"), else taken to be RCPT.
    """
    action = (action or "").strip().lower()
    if action in ("delivered", "relayed", "expanded", "delayed"):
        return None
    found = enhanced_status(status) or enhanced_status(diagnostic)
    if found is not None and found.startswith("2"):
        return None
    if found is not None and found.endswith(".0.0"):
        # Exim and OpenSMTPD write 5.0.0 for everything: the diagnostic may be more precise.
        better = enhanced_status(diagnostic)
        if better is not None and not better.endswith(".0.0") and better[0] == found[0]:
            found = better
    words = " ".join(part for part in (status, diagnostic) if part)
    basic = re.search(r"(?:^|[\s:;(])([45]\d\d)(?:[\s-]|$)", words)
    # Without a reply code of its own a report's bare 5.0.0 is no evidence of a missing mailbox.
    code = int(basic[1]) if basic else None
    stage = stage or stage_named(words) or Stage.RCPT
    if found is None and code is None:
        # A failure report with no code at all: the words decide, and nothing else is known.
        verdict = Verdict(classify_reply(stage, None, words, status="5.0.0").reason, True, None)
    else:
        verdict = classify_reply(stage, code, words, status=found)
    if action == "expired" or (action == "failed" and verdict.reason is Reason.TEMPORARY):
        # The relay gave up after retrying a temporary refusal for days.
        return Verdict(Reason.EXPIRED, True, verdict.status)
    if action == "failed" and not verdict.permanent:
        # A failed report of a 4xx refusal (4.2.2 full, 4.7.x policy): the relay gave up on it.
        return Verdict(verdict.reason, True, verdict.status)
    return verdict
