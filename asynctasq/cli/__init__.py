"""The command line: ``python -m asynctasq`` / ``asynctasq``."""
