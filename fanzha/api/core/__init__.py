"""Cross-cutting pieces of the API: tokens, password checks, rate limits."""
