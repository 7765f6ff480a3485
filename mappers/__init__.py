"""Pure translation of platform payloads into Kanal actions: no I/O anywhere below here."""

from mappers.actions import Action, Delete, Ignored, Patch, Resource, StoreContext, Upsert

__all__ = ["Action", "Delete", "Ignored", "Patch", "Resource", "StoreContext", "Upsert"]
