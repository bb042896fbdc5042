"""Building blocks every capability uses: compliance checks, removal policy, log retention, buckets."""
