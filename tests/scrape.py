"""Reading a Prometheus scrape in tests: samples by name and labels, and what moved between two."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


class Scrape:
    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: dict[Key, float] = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 with none)."""
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.samples.items() if n == name and wanted <= found)

    def label_values(self, label: str) -> set[str]:
        return {value for (_, found) in self.samples for name, value in found if name == label}

    def names(self) -> set[str]:
        """Metric names as the README lists them: counters with their `_total`."""
        return {
            f"{name}_total" if family.type == "counter" else name
            for name, family in self.families.items()
        }


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def bearer(token: str) -> Mapping[str, str]:
    return {"authorization": f"Bearer {token}"}
