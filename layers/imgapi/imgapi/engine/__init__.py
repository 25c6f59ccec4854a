"""The image engine: cutting out the subject with rembg, enhancing and super-resolution, composing, expanding and
encoding; pure image work on plain values.

Imports imagefiles and core: it knows nothing of jobs, users, the API or DashScope.
"""
__all__: list[str] = []  # no handler calls the engine directly; the workers in jobs do
