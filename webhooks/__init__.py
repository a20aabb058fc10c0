"""Outbound webhooks: signing (Standard Webhooks) and the sender that delivers them."""
