"""The emails a document sends the client (workflow.documents, workflow.email_content): one
QUEUED email per contact, written in the change that writes the document (both or neither),
none for a client without contacts; each links to the document in the portal; what a person
typed is escaped in the HTML part and plain in the text part."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from models import (
    Client,
    Contact,
    Email,
    EmailKind,
    EmailStatus,
    Invoice,
    Job,
    JobEvent,
    Message,
    Organizer,
)
from settings import load
from tests.factories import board, client, gid, job, scope_of
from web import workers
from workflow import clients, documents, email_content, unit
from workflow.firms import NewFirm
from workflow.scope import Scope

LINES = [
    {"description": "1040", "quantity": 1, "unitPriceCents": 45000},
    {"description": "State return", "quantity": 2, "unitPriceCents": 7550},
]
HOSTILE = '<script>alert("owned")</script>\n<img src=x onerror=alert(1)> & more'


async def _client_with_contacts(firm: NewFirm, name: str, emails: list[str]) -> Client:
    avery = await client(firm, name)
    for address in emails:
        await Contact.create(
            firm_id=firm.firm.id, client_id=avery.id, name=address.split("@")[0], email=address
        )
    return avery


async def _job(firm: NewFirm, avery: Client) -> Job:
    pipeline, _ = await board(firm, name=f"1040 for {avery.id}")
    return await job(firm, pipeline, avery, "2025 return")


async def _send_all(scope: Scope, job_id: int) -> tuple[Organizer, Message, Invoice]:
    return (
        await documents.send_organizer(scope, job_id, "2025 organizer", ["Income?", "Kids?"]),
        await documents.send_message(scope, job_id, "Hello {client.name}", "Due {job.title}."),
        await documents.create_invoice(scope, job_id, "USD", LINES),
    )


async def test_every_document_is_emailed_to_every_contact_of_its_client(
    firm_a: NewFirm,
) -> None:
    addresses = ["avery@example.test", "sam@example.test"]
    avery = await _client_with_contacts(firm_a, "Avery Johnson", addresses)
    card = await _job(firm_a, avery)
    organizer, message, invoice = await _send_all(scope_of(firm_a), card.id)
    for kind, about, type_name in [
        (EmailKind.ORGANIZER, {"organizer_id": organizer.id}, "Organizer"),
        (EmailKind.MESSAGE, {"message_id": message.id}, "Message"),
        (EmailKind.INVOICE, {"invoice_id": invoice.id}, "Invoice"),
    ]:
        emails = await Email.filter(kind=kind).order_by("id")
        assert [email.to_address for email in emails] == addresses, kind
        pk = next(iter(about.values()))
        link = f"http://127.0.0.1:8000/portal/?{type_name.lower()}={gid(type_name, pk)}"
        for email in emails:
            assert (email.firm_id, email.job_id, email.client_id) == (
                firm_a.firm.id,
                card.id,
                avery.id,
            )
            assert email.status == EmailStatus.QUEUED and email.attempts == 0
            other_ids = {"organizer_id", "message_id", "invoice_id"} - set(about)
            assert all(getattr(email, key) == pk for key in about), kind
            assert all(getattr(email, key) is None for key in other_ids), kind
            assert link in email.text_body and f'href="{link}"' in email.html_body, kind
            assert "Firm A" in email.text_body and "Avery Johnson" in email.text_body
    assert len({e.header_message_id for e in await Email.all()}) == 6
    message_email = await Email.filter(kind=EmailKind.MESSAGE).first()
    assert message_email is not None
    assert message_email.subject == "Hello Avery Johnson"
    assert "Due 2025 return." in message_email.text_body
    invoice_email = await Email.filter(kind=EmailKind.INVOICE).first()
    assert invoice_email is not None
    assert invoice_email.subject == f"Invoice #{invoice.id} for 2025 return: 601.00 USD"
    assert "State return: 2 x 75.50 USD = 151.00 USD" in invoice_email.text_body
    assert "Total: 601.00 USD" in invoice_email.text_body


async def test_a_client_without_contacts_gets_the_documents_but_no_email(
    firm_a: NewFirm,
) -> None:
    await _client_with_contacts(firm_a, "Has Contacts", ["x@example.test"])  # not this client
    lonely = await _client_with_contacts(firm_a, "No Contacts", [])
    card = await _job(firm_a, lonely)
    organizer, message, invoice = await _send_all(scope_of(firm_a), card.id)
    assert await Email.all().count() == 0
    for model, document in ((Organizer, organizer), (Message, message), (Invoice, invoice)):
        assert await model.filter(id=document.id, job_id=card.id).exists()


async def test_the_emails_are_written_with_their_document_or_not_at_all(
    firm_a: NewFirm, monkeypatch: pytest.MonkeyPatch
) -> None:
    avery = await _client_with_contacts(firm_a, "Avery Johnson", ["avery@example.test"])
    card = await _job(firm_a, avery)
    events = await JobEvent.all().count()

    async def failing(self: unit.Change, *args: Any, **kwargs: Any) -> JobEvent:
        raise RuntimeError("the event log is full")

    monkeypatch.setattr(unit.Change, "record", failing)  # after the document and its emails
    for send in (
        _send_all(scope_of(firm_a), card.id),
        documents.write_message(scope_of(firm_a), card.id, "Hi", "Body"),
    ):
        with pytest.raises(RuntimeError):
            await send
    assert await Email.all().count() == 0
    assert await Organizer.all().count() + await Message.all().count() == 0
    assert await JobEvent.all().count() == events


class Tags(HTMLParser):
    """The tags and attributes of an HTML document, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}


def _parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


async def test_html_and_script_typed_by_people_are_text_in_the_html_part(
    firm_a: NewFirm,
) -> None:
    """A message's subject and body, a client's, job's and firm's names: whatever their
    markup, the HTML part holds only our own tags, and the text part the words as typed."""
    scope = scope_of(firm_a)
    avery = await _client_with_contacts(firm_a, "Avery <b>Johnson</b>", ["avery@example.test"])
    pipeline, _ = await board(firm_a)
    card = await job(firm_a, pipeline, avery, '2025 <i onclick="x()">return</i>')
    message = await documents.write_message(scope, card.id, "<b>Read me</b> & {job.title}", HOSTILE)
    await documents.send_organizer(scope, card.id, "<script>x()</script>", ["<q>?</q>"])
    await clients.update_client(scope, avery.id, name="<style>p{}</style>")
    await documents.create_invoice(
        scope, card.id, "USD", [{"description": "<u>1040</u>", "quantity": 1, "unitPriceCents": 1}]
    )
    emails = await Email.all().order_by("id")
    assert len(emails) == 3
    for email in emails:
        parsed = _parsed(email.html_body)
        assert parsed.tags <= {"html", "head", "meta", "title", "body", "p", "br", "a"}, parsed.tags
        assert parsed.attributes <= {"charset", "style", "href"}, parsed.attributes
        assert "<script" not in email.html_body and "onerror" not in parsed.attributes
    sent = next(email for email in emails if email.message_id == message.id)
    assert sent.subject == '<b>Read me</b> & 2025 <i onclick="x()">return</i>'
    assert HOSTILE in sent.text_body  # plain text: as typed
    assert (
        "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;<br>\n"
        "&lt;img src=x onerror=alert(1)&gt; &amp; more"
    ) in sent.html_body
    assert "<title>&lt;b&gt;Read me&lt;/b&gt; &amp; 2025" in sent.html_body
    assert "Hello Avery &lt;b&gt;Johnson&lt;/b&gt;," in sent.html_body


async def test_links_are_built_from_public_url(firm_a: NewFirm) -> None:
    """PUBLIC_URL reaches the emails through web.workers.configure, which every serving and
    working process calls."""
    avery = await _client_with_contacts(firm_a, "Avery Johnson", ["avery@example.test"])
    card = await _job(firm_a, avery)
    workers.configure(load({"PUBLIC_URL": "https://portal.firm-a.test/clients/"}))
    message = await documents.send_message(scope_of(firm_a), card.id, "Hi", "Body")
    email = await Email.get(message_id=message.id)
    link = f"https://portal.firm-a.test/clients/portal/?message={gid('Message', message.id)}"
    assert link in email.text_body and f'href="{link}"' in email.html_body
    assert email_content.portal_link("Invoice", 7).startswith(
        "https://portal.firm-a.test/clients/portal/?invoice="
    )
