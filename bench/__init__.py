"""Benchmarks that keep FieldCRM honest: data at scale, a baseline in the same run."""
