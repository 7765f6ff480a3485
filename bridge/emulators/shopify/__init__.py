"""A Shopify GraphQL Admin API emulator: a real HTTP server, as strict as Shopify, for tests
and demos (docs/emulators.md says what it does and does not emulate).

schema.graphql  the Admin API subset the bridge touches, with Shopify's names
schema          parse and validate queries against it (Shopify-worded errors)
cost            requested/actual query cost, the leaky bucket
search          the `query:` search syntax subset
shop            the shop's records (REST-shaped, as webhooks carry them)
nodes           GraphQL nodes derived from those records, connections and cursors
topics          webhook topics: enum, REST name, scope
state           apps, tokens, subscriptions, deliveries, faults, request log
api             the GraphQL endpoint's logic (cost, throttle, execute, resolvers)
delivery        signed deliveries, retries, deleting failing subscriptions
app             the ASGI app (OAuth token endpoint, GraphQL endpoint)
control         the /_emulator test-helper API
server          uvicorn: run(), BackgroundShopify, app specs
cli             `kanal-bridge emulator shopify`
"""

from bridge.emulators.shopify.app import create_app
from bridge.emulators.shopify.server import BackgroundShopify, parse_app_specs, run
from bridge.emulators.shopify.state import App, ShopifyState

__all__ = ["App", "BackgroundShopify", "ShopifyState", "create_app", "parse_app_specs", "run"]
