"""Who is calling: users and their password hashes, tokens, API keys, the login lock-out, logging in.

Imports core only; independent of jobs.
"""
__all__ = ["api_keys", "login"]
