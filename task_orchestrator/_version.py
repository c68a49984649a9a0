"""The package version (pyproject reads it; the guard service and its clients compare it)."""

__version__ = "0.2.0"
