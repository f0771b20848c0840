"""FieldCRM: customer management for field sales."""

__version__ = "0.1.0"
