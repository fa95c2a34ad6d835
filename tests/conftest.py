"""Shared test configuration. Helpers for one area live in that area's conftest.py."""
