"""Thin resolvers: decode ids, call a domain operation, map its outcome to a payload."""
