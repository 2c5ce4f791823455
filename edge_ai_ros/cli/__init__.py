"""The ``edge-ai-ros`` command line."""
