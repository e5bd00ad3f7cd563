"""Data access: the SQL of each aggregate, returning plain dataclasses."""
