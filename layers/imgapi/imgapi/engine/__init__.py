"""The image engine: reading images safely, cutting out the subject with rembg, enhancing, composing, outpainting
and encoding; pure image work on plain values.

Imports only core: it knows nothing of jobs, users, the API or DashScope.
"""
__all__: list[str] = []  # no handler calls the engine directly; the workers in jobs do
