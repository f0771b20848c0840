"""Rules that make follow-ups: a date field coming up, or no contact for a while."""
