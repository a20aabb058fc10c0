"""The caller of the client portal: one contact of one client of one firm.

Every portal read and write goes through a PortalCaller, which sees only its client's data: a
job, organizer, invoice or message of any other client (of the same firm or another) answers
exactly like one that does not exist. Its `scope` is the firm's, with no staff permission and
no user: the changes a contact makes are the system's in the job's history, with the contact
named in the event's changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow.scope import Scope


@dataclass(frozen=True, slots=True)
class PortalCaller:
    firm_id: int
    client_id: int
    contact_id: int
    session_id: int

    @property
    def scope(self) -> Scope:
        return Scope(self.firm_id, None, permissions=frozenset())
