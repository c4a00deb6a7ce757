"""The bounces that are no DSN: plain text some MTAs still send, read for each failed address.

Two layouts are read here line by line, because their wording says exactly where each address's
reason is:

- qmail's QSBMF ("Hi. This is the qmail-send program") and Yahoo's copy of it ("Sorry, we were
  unable to deliver your message"): one ``<address>:`` paragraph per recipient;
- Exim's ("This message was created automatically by mail delivery software … The following
  address(es) failed:", wrapped anywhere): one indented block per address, its reason indented
  deeper. Exim names the command it was refused at ("after MAIL FROM:", "after initial
  connection", "after RCPT TO:"), which `mailer.replies` reads.

Every other format (old Postfix and Sendmail, Exchange, GroupWise, Sina, SMTP32, …) is left to
flufl.bounce, Mailman's detectors, for the failed addresses; this module then takes each
address's reason from the text around its first mention (the line, and the lines indented under
it or the rest of its paragraph), so the same classification applies to every report. A format
neither knows gives no event.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from flufl.bounce import all_failures

from mailer.bounces.events import BounceEvent, Report
from mailer.bounces.text import MAX_FIELD, address, addresses, clean, header, headers, part_text
from mailer.replies import classify_status

__all__ = ["diagnostic_near", "plain_failures", "readable_text"]

# Where a bounce's own words end and its copy of our message begins.
_COPY = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:This is a copy|Below this line is a copy|Original message|"
    r"Returned message|Enclosed (?:is|are)|Unsent message below|Message headers follow)|"
    r"^[ \t]*Below is a copy of the original message",
    re.IGNORECASE | re.MULTILINE,
)
_QMAIL_INTRO = re.compile(
    r"^(?:Hi\. This is the qmail|Sorry, we were unable to deliver your message)", re.MULTILINE
)
_QMAIL_RECIPIENT = re.compile(r"<([^<>\s]*)>:\s*(.*)", re.DOTALL)
_EXIM_INTRO = re.compile(r"This message was created automatically by\s+mail\s+delivery\s+software")
_EXIM_FAILED = re.compile(
    r"The\s+following\s+address(?:\(es\)|es)?\s+failed:[ \t]*$", re.MULTILINE | re.IGNORECASE
)
_EXIM_RCPT = re.compile(r"after RCPT TO:\s*<([^<>\s]+)>", re.IGNORECASE)
_COPY_MESSAGE_ID = re.compile(r"^Message-ID:(.*)$", re.IGNORECASE | re.MULTILINE)
# flufl.bounce logs each detector it runs (INFO) and each that raises (with its traceback)
# before re-raising; `_library` turns the latter into "no event", so neither is news.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

#: How many lines after an address's first mention may hold its reason.
_NEAR_LINES = 12


def readable_text(report: Report) -> str:
    """The report's words for people: its first text/plain part, up to the copy of our message."""
    plain: Message | None = next(
        (p for p in report.parts if p.get_content_type() == "text/plain"), None
    )
    text = part_text(plain).replace("\r\n", "\n") if plain is not None else ""
    cut = _COPY.search(text)
    return text[: cut.start()] if cut else text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def diagnostic_near(text: str, recipient: str) -> str | None:
    """What a bounce's text says about one address: its first line, and the lines under it."""
    lines = text.split("\n")
    wanted = recipient.lower()
    at = next((n for n, line in enumerate(lines) if wanted in line.lower()), None)
    if at is None:
        return None
    found = [lines[at].strip()]
    base = _indent(lines[at])
    indented = False  # lines indented under the address (Exim, Exchange, Postfix) end at base
    for line in lines[at + 1 : at + 1 + _NEAR_LINES]:
        if not line.strip():
            break
        if _indent(line) > base:
            indented = True
        elif indented or ("@" in line and wanted not in line.lower()):
            break  # the block under the address ended, or the next address begins
        found.append(line.strip())
    return clean(" ".join(found))


def plain_failures(report: Report) -> list[BounceEvent]:
    """qmail, Yahoo, Exim and every format flufl.bounce knows: one event per failed address."""
    text = readable_text(report)
    copy = _COPY_MESSAGE_ID.search(_whole_text(report))
    if _QMAIL_INTRO.search(text):
        found = _qmail(text)
    elif _EXIM_INTRO.search(text):
        found = _exim(report, text)
    else:
        transcript = _transcript(text)
        found = [
            (one, clean(" ".join(filter(None, (diagnostic_near(text, one), transcript)))))
            for one in _library(report.msg, text)
        ]
    from_address = address(header(report.msg, "From"))
    events = []
    for recipient, diagnostic in found:
        verdict = classify_status(None, diagnostic, action="failed")
        if verdict is None:
            continue
        events.append(
            report.event(
                verdict.reason,
                recipient,
                status=verdict.status,
                diagnostic=diagnostic,
                message_id=copy[1] if copy else None,
                reporter=from_address.rpartition("@")[2] if from_address else None,
            )
        )
    return events


_TRANSCRIPT = re.compile(
    r"-{3,}\s*Transcript of session follows\s*-{3,}\n(.*?)(?:\n[ \t]*-{3,}|\Z)", re.DOTALL
)
_TRANSCRIPT_LINE = re.compile(r"^(?:<<< |>>> |[45]\d\d[ -])")


def _transcript(text: str) -> str | None:
    """Sendmail's transcript of the refused session: the commands and replies, as one line."""
    match = _TRANSCRIPT.search(text)
    if match is None:
        return None
    lines = [line.strip() for line in match[1].split("\n")]
    return clean(" ".join(line for line in lines if _TRANSCRIPT_LINE.match(line))[:MAX_FIELD])


def _whole_text(report: Report) -> str:
    plain = next((p for p in report.parts if p.get_content_type() == "text/plain"), None)
    return part_text(plain) if plain is not None else ""


def _qmail(text: str) -> list[tuple[str | None, str | None]]:
    """QSBMF: after the intro paragraph, one "<address>:" paragraph per recipient."""
    intro = _QMAIL_INTRO.search(text)
    assert intro is not None
    found: list[tuple[str | None, str | None]] = []
    for paragraph in re.split(r"\n[ \t]*\n", text[intro.start() :])[1:]:
        if paragraph.startswith("-"):
            break
        if match := _QMAIL_RECIPIENT.match(paragraph.strip()):
            found.append((address(match[1]), clean(match[2])))
    return found


def _exim(report: Report, text: str) -> list[tuple[str | None, str | None]]:
    """Exim's listing; without one that reads, X-Failed-Recipients with the listing's words."""
    listing = _EXIM_FAILED.search(text)
    if listing is None:
        return []  # a delay warning ("has not yet been delivered"), or no failure at all
    found = _exim_blocks(text[listing.end() :])
    if found:
        return found
    rest = text[listing.end() :]
    return [
        (one, diagnostic_near(rest, one) or clean(rest[:MAX_FIELD]))
        for one in addresses(headers(report.msg, "X-Failed-Recipients"))
    ]


def _exim_blocks(text: str) -> list[tuple[str | None, str | None]]:
    """Exim's listing: "  address" lines, each followed by its deeper-indented reason."""
    found: list[tuple[str | None, list[str]]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if not line.startswith(" "):
            break  # "------ This is a copy of the message" or the end of the listing
        if not line.startswith("   ") and (one := address(line.split()[0])):
            found.append((one, [line.strip()[len(line.split()[0]) :].strip()]))
        elif found:
            found[-1][1].append(line.strip())
    blocks: list[tuple[str | None, str | None]] = []
    for one, lines in found:
        reason = " ".join(part for part in lines if part)
        rcpt = _EXIM_RCPT.search(reason)
        blocks.append((one or (address(rcpt[1]) if rcpt else None), clean(reason)))
    return blocks


def _library(msg: Message, text: str) -> list[str]:
    """The permanently failed addresses flufl.bounce finds, in the order the text names them."""
    try:
        _temporary, permanent = all_failures(msg)
    except Exception:  # a heuristic detector tripping on hostile input: no event, as documented
        return []
    found = {one for raw in permanent if (one := address(raw.decode("utf-8", "replace")))}
    lowered = text.lower()

    def position(one: str) -> tuple[int, str]:
        at = lowered.find(one.lower())
        return (at if at >= 0 else len(lowered), one)

    return sorted(found, key=position)
