"""Developer tooling that never ships to Lambda: the `imgapi` command and the local stack."""
