"""Importing customers, contacts and purchases from Excel and CSV files."""
