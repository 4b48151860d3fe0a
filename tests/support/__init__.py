"""Builders shared by tests in several packages and by bench/ (not fixtures: plain functions)."""
