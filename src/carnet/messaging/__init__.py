"""Messages to people: written to an outbox in the transaction that causes them, sent by the
worker through Django's e-mail backend, and listed in the person's own message page."""
