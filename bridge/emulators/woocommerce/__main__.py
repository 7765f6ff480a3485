"""`python -m bridge.emulators.woocommerce --port 8098 --key ck_…:cs_…` (see its `cli` module)."""

from bridge.emulators.woocommerce.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
