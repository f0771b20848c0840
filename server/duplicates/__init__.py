"""One customer, one record: likely duplicates found, queued, merged and unmerged."""
