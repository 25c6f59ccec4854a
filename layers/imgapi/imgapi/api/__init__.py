"""The HTTP API: the contract (routes, bodies, answers, OpenAPI), serving declared routes with Powertools, and the
submit use cases of the image edits and combo.

The top layer: may import every other area; nothing imports it.
"""
__all__ = ["combo", "http_api", "image_edits", "openapi", "removebg", "routes"]
