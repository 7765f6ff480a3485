"""External ids as Kanal keys them: a store's `external_id_prefix` on every id it sends.

Kanal keys records by (Kanal store, external_id). Bridge stores that feed one Kanal store
therefore each set a prefix (the configuration refuses them otherwise), and it is applied
here, at the record store's door, so that the mappers stay pure and every id that reaches
Kanal or names a record in Redis is the one Kanal sees.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mappers import Action, Delete, Ignored, Patch


def apply_prefix(action: Action, prefix: str) -> Action:
    """`action` with `prefix` on every id sent to Kanal: the record's own external_id (also
    in its body), its customer's, a shipment's order_external_id, and the record it waits for."""
    if not prefix or isinstance(action, Ignored):
        return action
    if isinstance(action, Patch | Delete):
        return replace(action, external_id=prefix + action.external_id)
    after = action.after
    if after is not None:
        after = (after[0], prefix + after[1])
    return replace(
        action,
        external_id=prefix + action.external_id,
        body=_body(action.body, prefix),
        after=after,
    )


def _body(body: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = dict(body)
    for name in ("external_id", "order_external_id"):
        if isinstance(out.get(name), str):
            out[name] = prefix + out[name]
    customer = out.get("customer")
    if isinstance(customer, dict) and isinstance(customer.get("external_id"), str):
        out["customer"] = {**customer, "external_id": prefix + customer["external_id"]}
    return out
