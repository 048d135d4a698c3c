"""Test helpers shared by the test suite and fixture generators (not used at runtime)."""
