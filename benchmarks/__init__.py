"""Scripts that measure and print the project's figures (make bench); not tests."""
