"""Tests for the pyactor package (run with pytest from python/)."""
