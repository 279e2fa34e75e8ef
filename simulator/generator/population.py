"""Who: the scenario's care providers (one network per scenario) and its patients (one per index).

The network is drawn once from ``(seed, "providers")`` so that every worker rebuilds the same one; a
patient is drawn from the patient's own random stream (scenario.py seeds it from ``(seed, index)``).
"""

from __future__ import annotations

import string
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from random import Random
from typing import Any

from faker import Faker

from ...schemas.identifiers import SYNTHETIC_PROVIDER_PREFIX, business_number_check_digit, format_business_number
from ..people import AREA_WEIGHTS, FOREIGN_RESIDENT_AGES, FOREIGN_RESIDENT_SHARE
from .catalog import Kind
from .options import Options
from .tables import Weighted, chance, tier, uniform_choice

#: 의료급여 share of the population (about 2.9%; 1종 about two thirds of it), the kit's rounding.
MEDICAL_AID = (("medical_aid_1", 0.020), ("medical_aid_2", 0.009))
#: Group digit of synthetic 요양기관기호 for providers abroad: 990NNNNN (people.py never uses group 0).
FOREIGN_GROUP = "0"
#: Providers abroad: (country, city, name, street, representative). Names are invented.
FOREIGN = (
    ("US", "Los Angeles, CA", "Pacific Sample Medical Clinic", "1200 Example Avenue", "Dr. Jordan Lee"),
    ("JP", "Tokyo", "Sakura Sample Clinic", "2-3-4 Sample-cho, Minato-ku", "Dr. Aoi Tanaka"),
    ("VN", "Ho Chi Minh City", "Saigon Sample International Hospital", "88 Example Street, District 1",
     "Dr. Minh Nguyen"),
    ("TH", "Bangkok", "Bangkok Sample Care Hospital", "99 Sample Road, Pathum Wan", "Dr. Somchai Sample"),
)
_LETTERS = string.ascii_lowercase
#: Multiplier of the patient-number permutation: odd and not a multiple of 5, so it is a bijection mod 10^8.
_PERMUTE = 48_271
#: 의원 per 시군구 of the scenario's catchment: the network covers as many 시군구 as it can fill (docs/domain.md §6).
CLINICS_PER_AREA = 20
#: Clinic specialities every 시군구 of the catchment has (so that most clinic visits can stay near home).
LOCAL_DEPARTMENTS = ("01", "05", "11", "12", "13", "14", "23", "10", "03", "15", "02", "09")
#: Where an episode is treated: (own 시군구, else own 시도) for clinics and for hospitals, which draw wider.
CLINIC_NEAR_HOME = (0.75, 0.8)
HOSPITAL_NEAR_HOME = (0.35, 0.85)
#: A prescription is mostly filled at the prescriber's door-front pharmacy (문전약국), else near home.
DOOR_FRONT = 0.93
#: 소아청소년과 (11) weight by the patient's age, relative to the other departments that treat the same kind.
PEDIATRICS = "11"
PEDIATRIC_PULL = ((0, 6.0), (15, 1.0), (18, 0.03))


@dataclass(frozen=True, slots=True)
class Provider:
    """A care provider of the scenario. ``block`` is the kit-v1 provider block printed on documents."""

    code: str
    facility_type: str
    tier: str
    departments: tuple[str, ...]
    sido: str
    block: dict[str, Any]
    place: tuple[str | None, str | None, str | None]  # postcode, 시도, 시군구 (the EMR seed's columns)
    doctors: tuple[tuple[str, str], ...]  # (name, licence number)
    pharmacists: tuple[str, ...]
    area: int | None = None  # index of its 시군구 in people.AREA_WEIGHTS; None abroad

    @property
    def abroad(self) -> bool:
        return self.block.get("country", "KR") != "KR"


@dataclass(slots=True)
class Patient:
    index: int
    patient_id: str
    record: dict[str, Any]  # people.kr_patient() plus ids and category
    sex: str
    birth: date
    age: int  # on the claim day
    category: str
    sido: str
    area: int
    hard_case: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def block(self) -> dict[str, Any]:
        """The patient block of medical receipts and statements."""
        r = self.record
        return {"patient_number": r["patient_number"], "name": r["name"],
                "resident_number_masked": r["resident_number_masked"]}


# -- the network ------------------------------------------------------------------------------------------


def network_sizes(patients: int) -> dict[str, int]:
    """Providers of each type for a scenario of ``patients`` (without a target provider)."""
    def clamp(value: int, low: int, high: int) -> int:
        return max(low, min(high, value))

    # Denser than Korea (about one 의원 per 1,400 people) so that small scenarios still spread over providers;
    # capped so that every worker's copy of the network stays small.
    return {"31": clamp(patients // 15, 12, 2000), "21": clamp(patients // 150, 2, 400),
            "11": clamp(patients // 600, 1, 120), "01": clamp(patients // 3000, 1, 45),
            "81": clamp(patients // 20, 4, 2000)}


class Network:
    """The providers and the indexes that let a patient pick one near home, of the right department."""

    def __init__(self, providers: list[Provider], target: Provider | None, catchment: tuple[int, ...]) -> None:
        self.providers = tuple(providers)
        self.target = target
        self.catchment = catchment
        self._homes = Weighted([(area, AREA_WEIGHTS[area]) for area in catchment])
        self.by_code = {p.code: p for p in providers}
        self._by_type_dept: dict[tuple[str, str], list[Provider]] = defaultdict(list)
        self._local: dict[tuple[str, str, int | str], list[Provider]] = defaultdict(list)
        self._pharmacies: list[Provider] = []
        self._local_pharmacies: dict[int | str, list[Provider]] = defaultdict(list)
        self.foreign = tuple(p for p in providers if p.abroad)
        for p in providers:
            if p.abroad:
                continue
            if p.facility_type == "81":
                self._pharmacies.append(p)
                self._local_pharmacies[p.area].append(p)
                self._local_pharmacies[p.sido].append(p)
                continue
            for dept in p.departments:
                self._by_type_dept[(p.facility_type, dept)].append(p)
                self._local[(p.facility_type, dept, p.area)].append(p)
                self._local[(p.facility_type, dept, p.sido)].append(p)
        self._places: dict[tuple[str, int], Weighted[tuple[str, str]] | None] = {}

    @property
    def domestic(self) -> tuple[Provider, ...]:
        return tuple(p for p in self.providers if not p.abroad)

    def home(self, rng: Random) -> int:
        """Where a patient of the scenario lives: a 시군구 of the catchment, by population."""
        return self._homes.pick(rng)

    def places(self, kind: Kind, age: int = 30) -> Weighted[tuple[str, str]] | None:
        """(facility type, department) pairs that treat ``kind`` for a patient of ``age``, weighted; None when
        the network has none. Children mostly see a 소아청소년과, adults hardly ever."""
        band = sum(1 for start, _ in PEDIATRIC_PULL if age >= start) - 1
        pull, key = PEDIATRIC_PULL[band][1], (kind.name, band)
        if key not in self._places:
            pairs = []
            target = self.target
            if target is not None and target.facility_type != "81":
                if fits(kind, target.facility_type):
                    pairs = [((target.facility_type, d), 1.0) for d in kind.departments if d in target.departments]
            else:
                for facility_type, weight in kind.facilities:
                    depts = [d for d in kind.departments if self._by_type_dept.get((facility_type, d))]
                    pairs += [((facility_type, d), weight / len(depts) * (pull if d == PEDIATRICS else 1.0))
                              for d in depts]
            self._places[key] = Weighted(pairs) if pairs else None
        return self._places[key]

    def pick(self, rng: Random, kind: Kind, patient: Patient, exclude: str | None = None
             ) -> tuple[Provider, str] | None:
        """A provider for an episode of ``kind`` (not ``exclude``) and the department that sees the patient:
        a clinic mostly in the patient's own 시군구, a hospital mostly in the own 시도."""
        places = self.places(kind, patient.age)
        if places is None:
            return None
        for attempt in range(8):
            facility_type, dept = places.pick(rng)
            clinic = tier(facility_type) == "clinic"
            local = self._local.get((facility_type, dept, patient.area))
            if clinic and not local and attempt < 4:
                continue  # rather a 의원 of another fitting speciality near home than this one far away
            near_area, near_sido = CLINIC_NEAR_HOME if clinic else HOSPITAL_NEAR_HOME
            pool = local if local and chance(rng, near_area) else None
            if not pool and chance(rng, near_sido):
                pool = self._local.get((facility_type, dept, patient.sido))
            provider = uniform_choice(rng, pool or self._by_type_dept[(facility_type, dept)])
            if provider.code != exclude:
                return provider, dept
        return None

    def pharmacy(self, rng: Random, patient: Patient, prescriber: Provider | None = None) -> Provider:
        """Where a prescription is dispensed: mostly the prescriber's door-front pharmacy, else near home."""
        if self.target is not None and self.target.facility_type == "81":
            return self.target
        if prescriber is not None and chance(rng, DOOR_FRONT):
            near = (self._local_pharmacies.get(prescriber.area) or self._local_pharmacies.get(prescriber.sido)
                    or self._pharmacies)
            return near[int(prescriber.code) % len(near)]
        local = self._local_pharmacies.get(patient.area)
        return uniform_choice(rng, local if local and chance(rng, 0.9) else self._pharmacies)


def fits(kind: Kind, facility_type: str) -> bool:
    """Whether a target provider of ``facility_type`` can treat ``kind`` (with a department in common)."""
    types = {t for t, _ in kind.facilities}
    if facility_type in types:
        return True
    if (facility_type in ("41", "51")) != (types <= {"41", "51"}):
        return False  # dentists treat teeth, and only dentists do
    if kind.stay is None:
        return facility_type != "81"  # any medical provider sees outpatients
    return facility_type in ("01", "11", "21") and types <= {"01", "11", "21", "31"}


def build_network(options: Options, fake: Faker) -> Network:
    """The scenario's providers, drawn from ``(seed, "providers")``; the target provider first.

    The network serves a catchment of 시군구 (as many as its 의원 can fill, at least one): every 의원 and
    pharmacy is in one of them, round the catchment, and each has a 의원 of every common speciality; hospitals
    are in the catchment too. With a medical target provider the catchment is the target's 시군구."""
    rng = Random(f"{options.seed}:providers")
    fake.random = rng
    used: set[str] = set()
    providers: list[Provider] = []
    sizes = network_sizes(options.patients)
    medical_target = options.provider_type is not None and options.provider_type != "81"
    catchment = catchment_areas(rng, 1 if medical_target else max(1, sizes["31"] // CLINICS_PER_AREA))
    target = None
    if options.provider_type is not None:
        target = _provider(fake, rng, options.provider_type, used, catchment[0], code=options.provider)
        providers.append(target)
    if medical_target:
        sizes = {"81": sizes["81"]}  # every medical visit happens at the target
    elif target is not None:
        sizes = {**sizes, "81": 0}  # every dispensing happens at the target pharmacy
    for facility_type, count in sizes.items():
        spread = facility_type in ("31", "81")
        providers += [_provider(fake, rng, facility_type, used,
                                catchment[i % len(catchment)] if spread else uniform_choice(rng, catchment))
                      for i in range(count)]
    if not medical_target:
        providers += _missing_departments(fake, rng, providers, used, catchment)
    providers += [_foreign(fake, rng, entry, used) for entry in FOREIGN]
    return Network(providers, target, catchment)


def catchment_areas(rng: Random, count: int) -> tuple[int, ...]:
    """``count`` distinct 시군구, drawn by population without replacement (Efraimidis–Spirakis keys)."""
    keys = sorted(((rng.random() ** (1.0 / weight), area) for area, weight in enumerate(AREA_WEIGHTS)), reverse=True)
    return tuple(area for _, area in keys[:min(count, len(keys))])


def _missing_departments(fake: Faker, rng: Random, providers: list[Provider], used: set[str],
                         catchment: tuple[int, ...]) -> list[Provider]:
    """Extra clinics so that every 시군구 of the catchment has a 의원 of each common speciality."""
    have = {(p.area, d) for p in providers if p.facility_type == "31" for d in p.departments}
    return [_provider(fake, rng, "31", used, area, department=dept)
            for area in catchment for dept in LOCAL_DEPARTMENTS if (area, dept) not in have]


def _provider(fake: Faker, rng: Random, facility_type: str, used: set[str], area: int, code: str | None = None,
              department: str | None = None) -> Provider:
    raw = fake.kr_provider(facility_type, area=area, department=department)
    if code is None:
        code = raw["provider_code"]
        while code in used:
            code = fake.kr_provider_code(facility_type)
    used.add(code)
    raw["provider_code"] = code
    block = {"provider_code": code, "facility_type": facility_type, "name": raw["name"],
             "business_number": raw["business_number"], "phone": raw["phone"], "address": raw["address"]["full"],
             "representative": raw["representative"]}
    staff = 1 if facility_type in ("31", "51", "71", "81") else 2 + int(rng.random() * 6)
    names = [raw["representative"]] + [fake.kr_name() for _ in range(staff - 1)]
    doctors = tuple((name, f"{10000 + int(rng.random() * 89999)}") for name in names)
    address = raw["address"]
    # Only what documents and the EMR seed need is kept: every worker holds the whole network.
    return Provider(code, facility_type, tier(facility_type), tuple(raw["departments"]), address["sido_code"],
                    block, (address["postcode"], address["sido"], address["sigungu"]),
                    doctors if facility_type != "81" else (), tuple(names) if facility_type == "81" else (), area)


def _foreign(fake: Faker, rng: Random, entry: tuple[str, ...], used: set[str]) -> Provider:
    country, city, name, street, representative = entry
    code = SYNTHETIC_PROVIDER_PREFIX + FOREIGN_GROUP + f"{int(rng.random() * 100000):05d}"
    while code in used:
        code = SYNTHETIC_PROVIDER_PREFIX + FOREIGN_GROUP + f"{int(rng.random() * 100000):05d}"
    used.add(code)
    first_nine = f"000{80 + int(rng.random() * 10)}{1 + int(rng.random() * 9999):04d}"
    business = format_business_number(first_nine + str(business_number_check_digit(first_nine)))
    phone = f"0{1 + int(rng.random() * 9)}-0{int(rng.random() * 1000):03d}-{int(rng.random() * 10000):04d}"
    block = {"provider_code": code, "facility_type": "21", "name": name, "business_number": business,
             "phone": phone, "address": f"{street}, {city}", "representative": representative, "country": country}
    return Provider(code, "21", "hospital", ("01",), "", block, (None, None, None), ((representative, "00000"),), ())


# -- patients ---------------------------------------------------------------------------------------------


def patient_number(index: int) -> str:
    """환자등록번호: 8 digits, a permutation of the index, so unique in the scenario without a registry."""
    return f"{(index * _PERMUTE + 12_345_679) % 100_000_000:08d}"


def identity_token(rng: Random) -> str:
    """A relay-style identity token. Letters only, so it can never look like a resident number."""
    return "itk_" + "".join(_LETTERS[int(rng.random() * 26)] for _ in range(24))


#: A patient is born at least this many days before the claim day, so that a policy and a visit fit in between.
MIN_AGE_DAYS = 30


def draw_patient(fake: Faker, rng: Random, options: Options, index: int, network: Network) -> Patient:
    as_of = options.as_of
    home = network.home(rng)
    foreigner = chance(rng, FOREIGN_RESIDENT_SHARE)
    low, high = FOREIGN_RESIDENT_AGES if foreigner else (0, 95)
    while True:  # redraw the few born in the last month (about 0.1% of draws): nothing to claim yet
        record = fake.kr_patient(min_age=low, max_age=high, today=as_of, area=home, foreigner=foreigner)
        birth = date.fromisoformat(record["birth_date"])
        if (as_of - birth).days >= MIN_AGE_DAYS:
            break
    age = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    category = "nhi"
    draw = rng.random()
    for name, share in MEDICAL_AID:
        if draw < share:
            category = name
            break
        draw -= share
    patient_id = f"P{index:08d}"
    record = {"patient_id": patient_id, **record, "patient_number": patient_number(index),
              "patient_category": category, "identity_token": identity_token(rng)}
    return Patient(index, patient_id, record, record["sex"], birth, age, category, record["address"]["sido_code"],
                   home)
