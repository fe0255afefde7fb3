"""Outgoing I/O to users' endpoints: the HTTP client, the webhook sender, local handlers."""
