"""`python -m bridge.emulators.shopify --port 8098 --app ID:SECRET` (see its `cli` module)."""

from bridge.emulators.shopify.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
