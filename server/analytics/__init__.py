"""Analyses for managers: what customers bring, who is slipping away, what they are worth."""
