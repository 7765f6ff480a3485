"""A Python client of the emulator's control API (tests, demo mode, scripts)."""

from __future__ import annotations

import time
from typing import Any

import httpx


class ControlError(RuntimeError):
    """The emulator refused a control request; the message is its answer."""


class ShopControl:
    """Drives a running WooCommerce emulator through `/_emulator/...` (see its control module)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        response = self._client.request(method, f"/_emulator{path}", json=body, params=query)
        if response.status_code >= 400:
            raise ControlError(f"{method} /_emulator{path}: {response.status_code} {response.text}")
        return response.json()

    @staticmethod
    def _flag(webhooks: bool) -> str | None:
        return None if webhooks else "false"

    # The shop's data (each change fires the webhooks WooCommerce would)

    def create_order(self, *, webhooks: bool = True, **fields: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/orders", fields, webhooks=self._flag(webhooks)))

    def create_orders(self, orders: list[dict[str, Any]], *, webhooks: bool = True) -> list[Any]:
        body = {"orders": orders}
        return list(self._call("POST", "/orders", body, webhooks=self._flag(webhooks))["orders"])

    def update_order(self, order_id: int, *, webhooks: bool = True, **fields: Any) -> Any:
        return self._call("PUT", f"/orders/{order_id}", fields, webhooks=self._flag(webhooks))

    def trash_order(self, order_id: int, *, webhooks: bool = True) -> Any:
        return self._call("POST", f"/orders/{order_id}/trash", webhooks=self._flag(webhooks))

    def restore_order(self, order_id: int, *, webhooks: bool = True) -> Any:
        return self._call("POST", f"/orders/{order_id}/restore", webhooks=self._flag(webhooks))

    def delete_order(self, order_id: int) -> Any:
        return self._call("DELETE", f"/orders/{order_id}")

    def create_customer(self, *, webhooks: bool = True, **fields: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/customers", fields, webhooks=self._flag(webhooks)))

    def create_customers(self, customers: list[dict[str, Any]], *, webhooks: bool = True) -> Any:
        body = {"customers": customers}
        return self._call("POST", "/customers", body, webhooks=self._flag(webhooks))["customers"]

    def update_customer(self, customer_id: int, *, webhooks: bool = True, **fields: Any) -> Any:
        return self._call("PUT", f"/customers/{customer_id}", fields, webhooks=self._flag(webhooks))

    def delete_customer(self, customer_id: int, *, webhooks: bool = True) -> Any:
        return self._call("DELETE", f"/customers/{customer_id}", webhooks=self._flag(webhooks))

    # Webhooks and deliveries

    def webhooks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/webhooks")["webhooks"])

    def webhook(self, webhook_id: int) -> dict[str, Any]:
        found = [w for w in self.webhooks() if w["id"] == webhook_id]
        if not found:
            raise ControlError(f"no webhook {webhook_id}")
        return found[0]

    def set_webhook(self, webhook_id: int, **fields: Any) -> Any:
        return self._call("PUT", f"/webhooks/{webhook_id}", fields)

    def deliveries(self, since: int = 0, **filters: Any) -> list[dict[str, Any]]:
        return list(self._call("GET", "/deliveries", since=since, **filters)["deliveries"])

    def wait_for_deliveries(
        self, count: int, *, since: int = 0, timeout: float = 15.0, **filters: Any
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` deliveries (matching `filters`) were made after `since`."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(since, **filters)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} deliveries within {timeout}s")
            time.sleep(0.02)

    def queue(self) -> dict[str, Any]:
        return dict(self._call("GET", "/queue"))

    def run_queue(self) -> list[dict[str, Any]]:
        return list(self._call("POST", "/queue/run")["deliveries"])

    # Faults, settings, keys, logs

    def add_fault(self, kind: str, **fields: Any) -> Any:
        return self._call("POST", "/faults", {"kind": kind, **fields})

    def clear_faults(self) -> Any:
        return self._call("DELETE", "/faults")

    def settings(self, **changes: Any) -> dict[str, Any]:
        if changes:
            return dict(self._call("POST", "/settings", changes))
        return dict(self._call("GET", "/settings"))

    def add_key(
        self, consumer_key: str, consumer_secret: str, permissions: str = "read_write", **more: Any
    ) -> Any:
        body = {"consumer_key": consumer_key, "consumer_secret": consumer_secret}
        return self._call("POST", "/keys", {**body, "permissions": permissions, **more})

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._call("GET", "/requests", since=since)["requests"])

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    def reset(self) -> None:
        self._call("POST", "/reset")
