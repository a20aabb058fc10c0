"""Which email addresses are accepted (people, contacts): only those that mail headers and SMTP
commands read as exactly one address, so a stored address can never name a second recipient."""

from __future__ import annotations

import pytest

from workflow import validation
from workflow.errors import DomainError


@pytest.mark.parametrize(
    "address", ["a@b.co", "Jane.Doe+tax@Example.com", "o'neil@example.com", "x_y@mail.example.org"]
)
def test_plain_addresses_are_accepted_lower_case(address: str) -> None:
    assert validation.email(address) == address.lower()


@pytest.mark.parametrize(
    "address",
    [
        "x,evil@example.com",  # two addresses in a To header
        "Jane <jane@example.com>",
        "a<b@example.com",
        '"quoted"@example.com',
        "a b@example.com",
        "a..b@example.com",
        "a@b",
        "a@-b.com",
        "a@b.com\nBcc: c@d.com",
        "a@b.com(comment)",
        "@example.com",
        "a" * 250 + "@b.co",
    ],
)
def test_anything_else_is_refused(address: str) -> None:
    with pytest.raises(DomainError) as refused:
        validation.email(address)
    assert refused.value.code == "INVALID_INPUT"
