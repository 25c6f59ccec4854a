"""The base every area stands on: settings, errors, AWS clients, observability, records and storage, the
parameter machinery, request bodies, safe fetches, webhook signing and secrets, the vCPU count, the vocabulary.

Imports nothing of imgapi outside core.
"""
__all__ = ["batch", "observability", "request_body", "webhook_secrets"]  # what a handler in functions/ may import
