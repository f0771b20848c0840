"""Offline sync: the phone's queued mutations, each applied at most once."""
