"""Webhooks in: signature verification, request limits, the webhook endpoints."""
