"""The image engine: cutting out the subject with rembg, enhancing and super-resolution, composing, expanding and
encoding; pure image work on plain values.

Imports imagefiles and core: it knows nothing of jobs, users, the API or DashScope.
"""
__all__ = ["cutout"]  # the image worker's entry starts loading its model; its jobs run through jobs.worker
