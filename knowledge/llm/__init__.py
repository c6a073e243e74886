"""LLM providers (one file each) and what they share. See ``base.Provider``."""
