"""`python -m bridge.emulators.kanal --port 8099 --store 1:KEY:60` (see its `cli` module)."""

from bridge.emulators.kanal.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
