"""Tortoise engines: the drivers' clients with models.writes' check before every statement.

Named in the ORM configuration (models.tortoise_config) in place of tortoise's own engines.
A client opens its transactions (and their savepoints) with a client of the same kind, so each
engine overrides `_in_transaction` to keep the check on inside transactions too.
"""
