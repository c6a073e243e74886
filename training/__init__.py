"""Dataset generation (language and metrics) and the anomaly model. Imports only ``knowledge``."""
