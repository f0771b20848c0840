"""Deterministic Japanese demo and benchmark data (`fieldcrm demo`, `fieldcrm serve --demo`)."""
