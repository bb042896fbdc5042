"""Reusable L3 constructs, each owning one capability and exposing what it created."""
