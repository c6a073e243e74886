"""Rendering of neutral replies for each platform: terminal text (and Block Kit, Discord, HTML)."""
