"""Comparing any two readings of a study: recorded sessions, dataset readers, predicted samples."""
