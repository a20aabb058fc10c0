"""The caller's scope: the one place tenant isolation is applied.

Every read and write of tenant data goes through `Scope.query`/`Scope.get`, which filter by the
caller's firm, so an id of another firm behaves exactly like an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from models import sql
from models.db import is_postgres
from models.firm import Permission
from workflow.errors import not_found

M = TypeVar("M", bound=Model)


EVERYTHING = frozenset(Permission)
MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit integers


@dataclass(frozen=True, slots=True)
class Scope:
    firm_id: int
    user_id: int | None  # None for system actors (demo seeding, automations)
    # The token's scopes capped by its user's role; see workflow.access for what needs which.
    permissions: frozenset[Permission] = EVERYTHING
    token_id: int | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def query(self, model: type[M]) -> QuerySet[M]:
        return model.filter(firm_id=self.firm_id)

    async def get(
        self,
        model: type[M],
        id: int,
        *,
        field: str | None = None,
        lock: bool = False,
        share: bool = False,
    ) -> M:
        """The firm's row with this id, or NOT_FOUND; `lock` takes a row lock (PostgreSQL),
        `share` a shared one (a row read to act on, which no change may alter meanwhile).
        Written by hand: the hottest read there is (every change locks its rows with it)."""
        if not 0 < id <= MAX_ROW_ID:  # names no row, and the database would fail on it
            raise not_found(model.__name__, field)
        rows = await sql.fetch(
            f'SELECT * FROM "{model._meta.db_table}" WHERE "firm_id" = ? AND "id" = ?'
            + (" FOR UPDATE" if lock else " FOR SHARE" if share and is_postgres() else ""),
            [self.firm_id, id],
        )
        if not rows:
            raise not_found(model.__name__, field)
        return model._init_from_db(**rows[0])


# No firm has this id: a scope that sees nothing (the GraphiQL page, a socket before its
# connection_init, a change that writes no firm's data: a new firm's first rows).
NOBODY = Scope(firm_id=-1, user_id=None, permissions=frozenset())
