"""Outbound email: the message built from a queued Email row (compose), the way it leaves
(transport: SMTP, or .eml files when no SMTP server is configured), and the mailer that
delivers queued emails, retries and records them (mailer)."""
