"""Who is calling: users and their password hashes, tokens, API keys, the login lock-out, logging in, and a
user's own account (logging out everywhere, a new password).

Imports core only; independent of jobs.
"""
__all__ = ["account", "api_keys", "login"]
