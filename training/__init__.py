"""Dataset generation (language and metrics) and the anomaly model. Imports only ``knowledge``."""

import os as _os

# LightGBM's OpenMP threads spin while they wait; in a bot that shares its CPU (embeddings,
# ingestion, chat) spinning turns a 2 s training into minutes. Must be set before libgomp loads.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
