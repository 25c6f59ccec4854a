"""imgapi: the domain code shared by every Lambda function (shipped as a SAM layer)."""
