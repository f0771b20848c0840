"""Custom fields: definitions per entity, industry templates, visit forms, one validator."""
