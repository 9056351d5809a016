"""Tests of the operator network around the box."""
