"""Reusable test helpers (import as `from helpers.<module> import ...`; pytest puts test/ on sys.path)."""
