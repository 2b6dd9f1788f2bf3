"""How a workflow hears about its charges without payments importing it.

A workflow registers once, in its ``AppConfig.ready``::

    from ihospital.payments import handlers
    handlers.register("order", on_paid=orders_paid, on_refunded=order_refunded)

* ``on_paid(charge) -> bool`` runs inside the transaction that marks the charge paid (it may change its own rows
  there, atomically with the payment). Returning ``False`` means "I no longer want this payment" (the order was
  cancelled meanwhile): payments refunds it in full at once. Raising rolls the whole callback back; the provider
  is answered with an error and delivers it again later.
* ``on_refunded(refund)`` runs inside the transaction that records a refund of the charge's payment as confirmed
  (refunds a workflow asked for, and the refund that follows ``on_paid`` returning ``False``). Refunds of money
  that never paid the charge (paid twice, paid after the charge was closed) are not reported: the workflow never
  counted that money.

A charge whose kind has no handler is accepted when paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handler:
    kind: str
    on_paid: Callable[[Any], bool]
    on_refunded: Callable[[Any], None] | None = None


_registry: dict[str, Handler] = {}


def register(kind: str, *, on_paid: Callable[[Any], bool], on_refunded: Callable[[Any], None] | None = None) -> None:
    if not kind or ":" in kind:
        raise ValueError("a kind is the part of a charge's reference before ':' (e.g. 'order')")
    _registry[kind] = Handler(kind=kind, on_paid=on_paid, on_refunded=on_refunded)


def unregister(kind: str) -> None:
    _registry.pop(kind, None)


def get(kind: str) -> Handler | None:
    return _registry.get(kind)
