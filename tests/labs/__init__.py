"""Tests of the labs: scenarios, their runner and reports."""
