"""Deals (商談): what is being negotiated with whom, at which stage, for how much, closing when."""
