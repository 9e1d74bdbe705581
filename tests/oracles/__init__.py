"""Loaders for the official answer extractors (their code is read at test time, never committed)."""
