"""Fuzzing (hypothesis) of what reaches Vigil from outside: the Slack endpoint and the CLI."""
