"""What the tests share: paths, the offline environment, the synthesized assembly and template
queries, config files to change one thing in, snapshots, the emulator and the container contract.

Test modules import from here, never from each other; tests/conftest.py holds only fixtures
and hooks built on these.
"""
