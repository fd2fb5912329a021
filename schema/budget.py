"""A CPU-time budget for checking one document: graphql-core's validation (whose
OverlappingFieldsCanBeMerged compares same-named fields pairwise) and the planner's walk look
at the clock as they go and stop once the budget is spent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from graphql import ASTValidationRule, ValidationRule
from graphql.validation import OverlappingFieldsCanBeMergedRule
from graphql.validation.rules import overlapping_fields_can_be_merged as overlapping
from graphql.validation.validate import ValidationAbortedError

Rules = tuple[type[ASTValidationRule], ...]
CHECK_EVERY = 64
"""Units of work between two looks at the clock, which costs a system call."""


class OverBudget(ValidationAbortedError):
    """The document took more CPU time than its budget; another attempt may pass."""


class Budget:
    """CPU time of this thread left for one document. Time taken by other threads and
    processes does not count, so that a busy machine does not refuse good documents."""

    __slots__ = ("_deadline", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.thread_time() + seconds

    def spent(self) -> bool:
        return time.thread_time() > self._deadline

    def check(self) -> None:
        if self.spent():
            raise self.exceeded()

    def exceeded(self) -> OverBudget:
        return OverBudget(
            f"Checking this document took more than {self.seconds * 1000:g} ms of CPU time, "
            "the most allowed: send a simpler document (fewer fields with the same name, "
            "fewer fragments)"
        )


class _MeteredState(overlapping.RuleContext):
    """graphql-core's state for OverlappingFieldsCanBeMerged, whose work meter (every
    comparison spends from `remaining_complexity_budget`) also looks at the clock."""

    __slots__ = ("_budget", "_left", "_spent")

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._spent = 0
        super().__init__()

    @property
    def remaining_complexity_budget(self) -> int:
        return self._left

    @remaining_complexity_budget.setter
    def remaining_complexity_budget(self, value: int) -> None:
        self._left = value
        self._spent += 1
        if self._spent % CHECK_EVERY == 0:
            self._budget.check()


def metered(rules: Sequence[type[ASTValidationRule]], budget: Budget) -> Rules:
    """The rules, with overlapping-field merging and the walk itself checking the budget."""

    class MeteredOverlap(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.rule_context = _MeteredState(budget)

    class Clock(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.visited = 0

        def enter_selection_set(self, *_args: Any) -> None:
            self.visited += 1
            if self.visited % CHECK_EVERY == 0:
                budget.check()

    swapped = [MeteredOverlap if rule is OverlappingFieldsCanBeMergedRule else rule for rule in rules]
    return (*swapped, Clock)


__all__ = ["Budget", "OverBudget", "Rules", "metered"]
