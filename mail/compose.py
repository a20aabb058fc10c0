"""The message an Email row becomes, with the standard `email` package: From (MAIL_FROM), To,
Subject, Date (when the email was queued), a Message-ID made of the row's random
header_message_id and MAIL_FROM's domain (the same on every attempt, so a receiver that got an
attempt whose answer was lost can tell the retry is the same message), and multipart/alternative
text/plain + text/html bodies; every attempt sends the same bytes.

A portal link's token is put into both bodies here, at sending time, from the row's sealed
secret (models.keys.unseal with LINK_TOKEN_PURPOSE): the stored bodies only hold
LINK_TOKEN_PLACEHOLDER.

No header injection: the subject is one line (control characters, CR and LF among them,
become spaces), the recipient must be one plain address (anything else is Unsendable), and the
email package refuses CR or LF in any header value anyway.
"""

from __future__ import annotations

import html
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from models import Email, keys
from models.email import LINK_TOKEN_PLACEHOLDER, LINK_TOKEN_PURPOSE

# One plain address (dot-atom local part, a host name): what an envelope and a To header can
# carry without quoting; addresses are validated when contacts are saved, this is the last check.
ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
# SMTP's line ends, and non-ASCII bodies encoded (quoted-printable or base64) rather than sent
# as 8-bit: a server need not support 8BITMIME.
WIRE = policy.SMTP.clone(cte_type="7bit")
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_ADDRESS = 254


class Unsendable(Exception):
    """The email cannot be composed, now or ever (a malformed address, a link token that does
    not open): it is FAILED with this reason, never retried."""


def sender_address(mail_from: str) -> str:
    """The address part of MAIL_FROM (`Name <user@host>` or `user@host`): the envelope sender."""
    return parseaddr(mail_from)[1]


def message_id(email: Email, mail_from: str) -> str:
    """The Message-ID header: `<header_message_id@MAIL_FROM's domain>`, the same every attempt."""
    return f"<{email.header_message_id}@{sender_address(mail_from).rpartition('@')[2]}>"


def recipient(email: Email) -> str:
    """The row's address, if it is one plain address; Unsendable otherwise."""
    address = email.to_address.strip()
    if len(address) > MAX_ADDRESS or not ADDRESS.fullmatch(address):
        raise Unsendable(f"not a valid email address: {email.to_address[:100]!r}")
    return address


def one_line(text: str) -> str:
    return CONTROL.sub(" ", text).strip()


def link_token(email: Email) -> str | None:
    """The sign-in token the email carries, unsealed; None for an email without one."""
    if email.sealed_secret is None:
        return None
    token = keys.unseal(email.sealed_secret, LINK_TOKEN_PURPOSE)
    if token is None:
        raise Unsendable("its sign-in link cannot be read (was the deployment key changed?)")
    return token.decode()


def compose(email: Email, mail_from: str) -> EmailMessage:
    """The message as it is sent. Raises Unsendable."""
    text_body, html_body = email.text_body, email.html_body
    token = link_token(email)
    if token is not None:
        text_body = text_body.replace(LINK_TOKEN_PLACEHOLDER, token)
        html_body = html_body.replace(LINK_TOKEN_PLACEHOLDER, html.escape(token, quote=True))
    message = EmailMessage(policy=WIRE)
    message["From"] = mail_from
    message["To"] = Address(addr_spec=recipient(email))
    message["Subject"] = one_line(email.subject)
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = message_id(email, mail_from)
    message.set_content(text_body, cte=transfer_encoding(text_body))
    message.add_alternative(html_body, subtype="html", cte=transfer_encoding(html_body))
    for part in message.iter_parts():
        del part["MIME-Version"]  # the email package adds it to each part; it belongs on top
    # Not a random boundary: every attempt sends the same bytes. The parts are encoded text in
    # which this random (per email) string does not occur.
    message.set_boundary(f"=_{email.header_message_id}_=")
    return message


def transfer_encoding(body: str) -> str:
    """7bit for ASCII text whose lines fit SMTP's limit (998 characters), so that a link in an
    .eml file reads as it is, whole; quoted-printable otherwise (the email package's choice
    for UTF-8 text is quoted-printable or base64 alike, and it folds long lines)."""
    fits = all(len(line) <= 998 for line in body.splitlines())
    return "7bit" if body.isascii() and fits else "quoted-printable"


def as_bytes(message: EmailMessage) -> bytes:
    """The message on the wire (and in an .eml file): CRLF line ends, 7-bit clean."""
    return message.as_bytes(policy=WIRE)
