"""Vigil's knowledge layer: telemetry types, sources, the demo world, redaction, the RAG engine.

Imports nothing of ours from above it (``bot``, ``handlers``, ``training``).
"""
