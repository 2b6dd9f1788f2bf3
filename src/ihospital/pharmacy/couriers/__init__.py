"""Courier adapters: the contract (``base``), the built-in simulator and SF Express."""
