"""Realistic Chinese personal data (the PII the warehouse must protect), drawn from Faker's
zh_CN word lists with our own random stream: Faker's template engine is too slow for a million
people, and this keeps every value a pure function of the simulation seed."""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import accumulate

from faker.providers.address.zh_CN import Provider as _Address
from faker.providers.company.zh_CN import Provider as _Company
from faker.providers.person.zh_CN import Provider as _Person
from faker.providers.phone_number.zh_CN import Provider as _Phone

from simulator.geography import District

_SURNAMES = list(_Person.last_names)
_SURNAME_CUM = list(accumulate(_Person.last_names.values()))
_GIVEN = list(_Person.first_names)
_PHONE_PREFIXES = [str(p) for p in _Phone.phonenumber_prefixes]
_STREET_ROOTS = [c for c in _Address.cities if len(c) <= 3]
_STREET_SUFFIXES = ("路", "路", "街", "大道", "东路", "西路", "南路", "北路")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class PersonFactory:
    """Names, phones, addresses and ID numbers from one seeded random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def name(self) -> str:
        r = self.rng
        surname = r.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
        given = r.choice(_GIVEN) + (r.choice(_GIVEN) if r.random() < 0.6 else "")
        return surname + given

    def phone(self) -> str:
        return self.rng.choice(_PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def street(self) -> str:
        return self.rng.choice(_STREET_ROOTS) + self.rng.choice(_STREET_SUFFIXES)

    def address(self, district: District) -> str:
        r = self.rng
        return (
            f"{district.city}{district.name}{self.street()}{r.randint(1, 999)}号"
            f"{r.randint(1, 30)}栋{r.randint(1, 32)}0{r.randint(1, 6)}室"
        )

    def id_card(self, district: District) -> str:
        """An 18-digit resident ID number with a valid GB 11643 check digit."""
        r = self.rng
        birth = date(1965, 1, 1) + timedelta(days=r.randrange(365 * 38))
        body = f"{district.region_id}{birth:%Y%m%d}{r.randrange(1000):03d}"
        check = _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
        return body + check

    def company_prefix(self) -> str:
        return self.rng.choice(_Company.company_prefixes)
