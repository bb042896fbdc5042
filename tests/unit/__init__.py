"""Unit tests: template assertions and snapshots, config errors, the scripts and the local runner; no deploys."""
