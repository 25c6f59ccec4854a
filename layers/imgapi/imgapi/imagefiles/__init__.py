"""Image files: checking what a client sent (format, size, pixels, HEIC/AVIF headers) before anything decodes it,
downloading images from URLs under the same checks, and the fast PNG writer.

Imports only core; the engine, the jobs and the API read and write images through it.
"""
__all__: list[str] = []  # no handler imports it directly
