"""The Vigil process: composition root, CLI, configuration, scheduler and chat adapters."""
