"""Real local servers for integration tests (Prometheus from the Debian package)."""
