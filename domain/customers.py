"""Customers: email unique per tenant (case-insensitive), contact details, tags and addresses."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from domain.errors import Invalid

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9 ()./-]{3,32}")
COUNTRY = re.compile(r"[A-Z]{2}")
MAX_EMAIL = 320
MAX_NAME = 100
MAX_TAG = 64
MAX_TAGS = 50


@dataclasses.dataclass(frozen=True)
class Customer:
    id: UUID
    email: str
    first_name: str
    last_name: str
    phone: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def email_key(self) -> str:
        return email_key(self.email)

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclasses.dataclass(frozen=True)
class Address:
    id: UUID
    customer_id: UUID
    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    region: str
    country: str
    default_shipping: bool
    default_billing: bool


@dataclasses.dataclass(frozen=True)
class CustomerDraft:
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CustomerPatch:
    """Fields of a customer to change; None leaves a field as it is."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    tags: tuple[str, ...] | None = None

    def apply(self, customer: Customer) -> CustomerDraft:
        return CustomerDraft(
            email=customer.email if self.email is None else self.email,
            first_name=customer.first_name if self.first_name is None else self.first_name,
            last_name=customer.last_name if self.last_name is None else self.last_name,
            phone=customer.phone if self.phone is None else self.phone,
            tags=customer.tags if self.tags is None else self.tags,
        )


@dataclasses.dataclass(frozen=True)
class AddressDraft:
    line1: str
    city: str
    country: str
    name: str = ""
    line2: str = ""
    postal_code: str = ""
    region: str = ""
    default_shipping: bool = False
    default_billing: bool = False


@dataclasses.dataclass(frozen=True)
class AddressPatch:
    line1: str | None = None
    city: str | None = None
    country: str | None = None
    name: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    region: str | None = None
    default_shipping: bool | None = None
    default_billing: bool | None = None

    def apply(self, address: Address) -> AddressDraft:
        changes = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        current = {f.name: getattr(address, f.name) for f in dataclasses.fields(AddressDraft)}
        return AddressDraft(**(current | changes))


class CustomerSort(enum.Enum):
    CREATED_AT = "created_at"
    EMAIL = "email_key"
    LAST_NAME = "last_name"


@dataclasses.dataclass(frozen=True)
class CustomerFilter:
    search: str | None = None
    """Part of the email or name, matched case-insensitively and literally (% and _ included)."""
    tag: str | None = None


def email_key(email: str) -> str:
    """What makes two emails the same customer: case does not matter."""
    return email.lower()


def normalize(draft: CustomerDraft) -> CustomerDraft:
    """Surrounding blanks never count; tags are kept once each, in the order given."""
    return dataclasses.replace(
        draft,
        email=draft.email.strip(),
        first_name=draft.first_name.strip(),
        last_name=draft.last_name.strip(),
        phone=draft.phone.strip(),
        tags=tuple(dict.fromkeys(tag.strip() for tag in draft.tags)),
    )


def check_customer(draft: CustomerDraft, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(draft.email) > MAX_EMAIL or not EMAIL.fullmatch(draft.email):
        errors[f"{path}.email"] = "must be an email address"
    for field in ("first_name", "last_name"):
        if len(getattr(draft, field)) > MAX_NAME:
            errors[f"{path}.{_camel(field)}"] = f"must be at most {MAX_NAME} characters"
    if draft.phone and not PHONE.fullmatch(draft.phone):
        errors[f"{path}.phone"] = "must be 3-32 digits, spaces or + ( ) . / -"
    errors.update(_check_tags(draft.tags, f"{path}.tags"))
    return errors


def check_address(draft: AddressDraft, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    for field, limit in (("line1", 200), ("city", 100)):
        if not getattr(draft, field).strip() or len(getattr(draft, field)) > limit:
            errors[f"{path}.{field}"] = f"must be 1-{limit} characters"
    for field, limit in (("name", 200), ("line2", 200), ("postal_code", 20), ("region", 100)):
        if len(getattr(draft, field)) > limit:
            errors[f"{path}.{_camel(field)}"] = f"must be at most {limit} characters"
    if not COUNTRY.fullmatch(draft.country):
        errors[f"{path}.country"] = "must be a 2-letter ISO 3166 code in capitals"
    return errors


def email_taken(path: str = "input.email") -> Invalid:
    return Invalid("another customer already has this email", fields={path: "already used"})


def _check_tags(tags: Sequence[str], path: str) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        return {path: f"at most {MAX_TAGS} tags"}
    for index, tag in enumerate(tags):
        if not tag or len(tag) > MAX_TAG:
            return {f"{path}[{index}]": f"must be 1-{MAX_TAG} characters"}
    return {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def customer_payload(customer: Customer) -> dict[str, object]:
    return {
        "id": str(customer.id),
        "email": customer.email,
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "tags": list(customer.tags),
    }


def address_payload(address: Address) -> dict[str, object]:
    return {
        "id": str(address.id),
        "city": address.city,
        "country": address.country,
        "defaultShipping": address.default_shipping,
        "defaultBilling": address.default_billing,
    }


def with_defaults(drafts: Sequence[AddressDraft]) -> list[AddressDraft]:
    """A new customer's first address is their default unless another one is marked so."""
    if not drafts:
        return []
    first = drafts[0]
    first = dataclasses.replace(
        first,
        default_shipping=first.default_shipping or not any(d.default_shipping for d in drafts),
        default_billing=first.default_billing or not any(d.default_billing for d in drafts),
    )
    return [first, *drafts[1:]]


def defaults_for(draft: AddressDraft, existing: Sequence[Address]) -> AddressDraft:
    """An address added to a customer without a default becomes that default."""
    return dataclasses.replace(
        draft,
        default_shipping=draft.default_shipping or not any(a.default_shipping for a in existing),
        default_billing=draft.default_billing or not any(a.default_billing for a in existing),
    )
