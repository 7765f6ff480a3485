"""A Kanal commerce API emulator: a real HTTP server, as strict as Kanal, for tests and demos.

validation   Kanal's field rules as pure functions (Laravel-shaped errors)
ratelimit    the per-store strict sliding 60-second window
state        stores, keys, records, request log, faults (in memory)
app          the 7 API endpoints (create_app)
control      the /_emulator test-helper API
server       uvicorn: run(), BackgroundEmulator, "STORE_ID:KEY[:RPM]" specs
cli          `python -m bridge.emulators.kanal` (main)
"""

from bridge.emulators.kanal.app import create_app
from bridge.emulators.kanal.cli import main
from bridge.emulators.kanal.server import BackgroundEmulator, parse_store_specs, run
from bridge.emulators.kanal.state import EmulatorStore
from bridge.emulators.kanal.validation import validate, validate_patch

__all__ = [
    "BackgroundEmulator",
    "EmulatorStore",
    "create_app",
    "main",
    "parse_store_specs",
    "run",
    "validate",
    "validate_patch",
]
