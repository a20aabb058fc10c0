"""What the emails to a client say: the subject, a plain-text part and an HTML part of each
ORGANIZER, MESSAGE, INVOICE and REMINDER email, with a link to the document in the portal.

Everything a person typed (a message's subject and body, an organizer's title, a client's,
job's, firm's or line item's name) goes into the HTML part escaped (`html.escape`, newlines
as <br>): no user HTML passes through, so a `<script>` in a message is text there. The text
part is the same words, plain. Subjects are one line (a header).

Links are `{PUBLIC_URL}/portal/?organizer=<global id>` (or `invoice=`, `message=`);
`configure(public_url)` sets the base in every process that sends (web.workers.configure).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode

from models import Invoice, Message, Organizer
from workflow.global_ids import global_id

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
SUBJECT_MAX = 500  # Email.subject
_public_url = DEFAULT_PUBLIC_URL


def configure(public_url: str) -> None:
    """The base URL clients reach the portal at (settings.public_url, PUBLIC_URL)."""
    global _public_url
    _public_url = public_url.rstrip("/")


def portal_link(type_name: str, pk: int) -> str:
    """The portal page of one document: `type_name` is Organizer, Invoice or Message."""
    query = urlencode({type_name.lower(): global_id(type_name, pk)})
    return f"{_public_url}/portal/?{query}"


@dataclass(frozen=True)
class Sender:
    """Who writes, to whom, about what: the names every email of a job mentions."""

    firm: str
    client: str
    job: str


@dataclass(frozen=True)
class Content:
    subject: str
    text_body: str
    html_body: str


def money(cents: int, currency: str) -> str:
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def _subject(text: str) -> str:
    """One line (CR, LF, tabs and runs of spaces become one space), at most SUBJECT_MAX."""
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 3] + "..."


def _h(text: str) -> str:
    """User text for the HTML part: escaped, its line breaks kept as <br>."""
    escaped = html.escape(text, quote=True)
    return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>\n")


# A paragraph of either part: plain text, or (for the HTML part) text already escaped.
Paragraph = tuple[str, str]


def _para(text: str) -> Paragraph:
    """A paragraph of user text or of ours: the same words in both parts."""
    return text, _h(text)


def _compose(
    sender: Sender, subject: str, paragraphs: list[Paragraph], link: str, action: str
) -> Content:
    greeting = _para(f"Hello {sender.client},")
    closing = _para(sender.firm)
    href = html.escape(link, quote=True)
    text = "\n\n".join(
        [greeting[0], *(plain for plain, _ in paragraphs), f"{action}: {link}", closing[0]]
    )
    body = "\n".join(
        [
            f"<p>{greeting[1]}</p>",
            *(f"<p>{escaped}</p>" for _, escaped in paragraphs),
            f'<p><a href="{href}">{html.escape(action)}</a></p>',
            f"<p>{closing[1]}</p>",
        ]
    )
    subject = _subject(subject)
    document = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        f'<body style="font-family: sans-serif; line-height: 1.4">\n{body}\n</body></html>\n'
    )
    return Content(subject, text + "\n", document)


def organizer_email(sender: Sender, organizer: Organizer) -> Content:
    count = len(organizer.questions)
    return _compose(
        sender,
        f"Please complete: {organizer.title}",
        [
            _para(
                f'{sender.firm} needs your answers to "{organizer.title}" '
                f"({count} question{'s' if count != 1 else ''}) for {sender.job}."
            )
        ],
        portal_link("Organizer", organizer.id),
        "Answer in the portal",
    )


def message_email(sender: Sender, message: Message) -> Content:
    return _compose(
        sender,
        message.subject,
        [_para(message.body)],
        portal_link("Message", message.id),
        "Read and reply in the portal",
    )


def _line_items(invoice: Invoice) -> Paragraph:
    lines = []
    for item in invoice.line_items:
        quantity, price = cast(int, item["quantity"]), cast(int, item["unitPriceCents"])
        lines.append(
            f"{item['description']}: {quantity} x {money(price, invoice.currency)}"
            f" = {money(quantity * price, invoice.currency)}"
        )
    lines.append(f"Total: {money(invoice.total_cents, invoice.currency)}")
    return _para("\n".join(lines))


def invoice_email(sender: Sender, invoice: Invoice) -> Content:
    total = money(invoice.total_cents, invoice.currency)
    return _compose(
        sender,
        f"Invoice #{invoice.id} for {sender.job}: {total}",
        [
            _para(f"{sender.firm} sent you invoice #{invoice.id} for {sender.job}."),
            _line_items(invoice),
        ],
        portal_link("Invoice", invoice.id),
        "View the invoice in the portal",
    )


def reminder_email(sender: Sender, document: Organizer | Invoice) -> Content:
    """A reminder of an organizer still unanswered or an invoice still unpaid."""
    if isinstance(document, Organizer):
        return _compose(
            sender,
            f"Reminder: please complete {document.title}",
            [
                _para(
                    f"A reminder: {sender.firm} is still waiting for your answers to "
                    f'"{document.title}" for {sender.job}.'
                )
            ],
            portal_link("Organizer", document.id),
            "Answer in the portal",
        )
    total = money(document.total_cents, document.currency)
    return _compose(
        sender,
        f"Reminder: invoice #{document.id} for {sender.job} is unpaid ({total})",
        [
            _para(
                f"A reminder: invoice #{document.id} for {sender.job}, {total}, is still unpaid."
            ),
            _line_items(document),
        ],
        portal_link("Invoice", document.id),
        "View the invoice in the portal",
    )
