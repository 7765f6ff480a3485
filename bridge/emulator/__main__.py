"""`python -m bridge.emulator --port 8099 --store 1:KEY:60` (see `bridge.emulator.cli`)."""

from bridge.emulator.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
