"""banban, a fashion retailer: fashion attributes on products, rules for seasons, sizes and
colours, a collection lookup, and with the metrics module sell-through and revenue by season."""

from domain.modules import ExtensionSpec

SPEC = ExtensionSpec("banban", requires=("catalog",))
