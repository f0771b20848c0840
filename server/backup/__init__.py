"""Backups: a portable archive of the whole database, and restoring one (``archive``)."""
