"""A WooCommerce shop emulator: its REST API v3 and its webhook deliveries, as strict as the
real plugin, for tests and demos (docs/emulators.md says what it does and does not emulate).

clock        the site's time and its two date formats (local, GMT)
rest         WordPress REST error bodies and argument checks
auth         REST key authentication (Basic, query string) and permissions
webhooks     a webhook, its topics, signature and REST representation
shop         orders and customers and their REST bodies
state        keys, webhooks, records, logs, faults, settings (in memory)
delivery     Action Scheduler: coalescing, one post per event, no retries, disabling
api          the /wp-json/ pipeline (auth, routing, arguments, permissions, pagination)
webhook_api  /wc/v3/webhooks (+ batch)
record_api   /wc/v3/orders, /wc/v3/customers
control      the /_emulator test-helper API
app          create_app
remote       ShopControl, a Python client of the control API
server       run(), BackgroundWooCommerce, "KEY:SECRET[:PERMISSIONS]" specs
cli          `kanal-bridge emulator woocommerce` (main)
"""

from bridge.emulators.woocommerce.app import create_app
from bridge.emulators.woocommerce.cli import main
from bridge.emulators.woocommerce.remote import ControlError, ShopControl
from bridge.emulators.woocommerce.server import BackgroundWooCommerce, parse_key_specs, run
from bridge.emulators.woocommerce.state import ApiKey, Settings

__all__ = [
    "ApiKey",
    "BackgroundWooCommerce",
    "ControlError",
    "Settings",
    "ShopControl",
    "create_app",
    "main",
    "parse_key_specs",
    "run",
]
