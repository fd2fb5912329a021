"""banban's demo tenant for `make run`: fashion products with seasons, sizes and colours."""

from __future__ import annotations

from domain import catalog

NAME = "banban fashion"


def _money(amount: int) -> catalog.Money:
    return catalog.Money(amount=amount, currency="EUR")


def _fashion(sku: str, size: str, colour: str, amount: int) -> catalog.VariantDraft:
    return catalog.VariantDraft(
        sku=sku, title=f"{colour} / {size}", price=_money(amount),
        attributes={"size": size, "colour": colour},
    )


PRODUCTS = [
    (catalog.ProductDraft(title="Linen Shirt", handle="linen-shirt",
                          attributes={"season": "SS25", "collection": "Riviera"}),
     [_fashion("BB-LS-S-WHT", "S", "white", 5900), _fashion("BB-LS-M-WHT", "M", "white", 5900),
      _fashion("BB-LS-M-BLU", "M", "blue", 5900)]),
    (catalog.ProductDraft(title="Wool Coat", handle="wool-coat",
                          attributes={"season": "AW25", "collection": "Nordic"}),
     [_fashion("BB-WC-M-CML", "M", "camel", 22900), _fashion("BB-WC-L-BLK", "L", "black", 22900)]),
]
