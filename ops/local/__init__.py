"""The embedded local PostgreSQL server (``ops.local.server.LocalServer``) for development and tests."""
