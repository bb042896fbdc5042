"""Integration tests: deploys to the embedded emulator with the real CDK CLI, the demo's path, multi-host training."""
