"""The project's tests: unit/ (templates, config, scripts, the local runner) and integration/ (the emulator)."""
