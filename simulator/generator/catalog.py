"""The care model as data: kinds of episode, who has them, where, and what is billed.

An *episode* is one treatment purpose (one main diagnosis): one or more outpatient visits, or one stay.
Each :class:`Kind` says which diagnoses it uses, which departments and facility types treat it, how often
it happens per person-year (by age and sex), and what is billed. Billing specs are a tiny language:
``"KK010+990000750"`` bills both codes together (procedure + the drug injected), ``"NC001|NC004"``
picks one of the alternatives; a code of 9 digits is a drug (fixtures/codes/drugs.json), anything else a
procedure (fixtures/codes/procedures.json). Each spec comes with its probability.

Rates and probabilities are the kit's rough assumptions for synthetic data, not statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .tables import DRUGS, KCD, PROCEDURES

Spec = tuple[str, float]


@dataclass(frozen=True, slots=True)
class Stay:
    """An inpatient stay: its length and what is billed once (``surgery``) and every day (``daily``)."""

    days: tuple[int, int]
    surgery: tuple[str, ...] = ()
    daily: tuple[Spec, ...] = ()
    rooms: bool = True  # False where a flat daily fee covers the room (요양병원 정액수가)
    interim_every: int = 0  # days after which an interim bill (중간 영수증) is issued, 0 = never


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    diagnoses: tuple[str, ...]  # KCD codes, optionally "@M"/"@F" for one sex
    departments: tuple[str, ...]
    facilities: tuple[tuple[str, float], ...]
    rate: float  # episodes per person-year before the age factor
    ages: tuple[int, int] = (0, 110)
    sex: str | None = None
    age_factor: tuple[tuple[int, float], ...] = ()  # (from age, multiplier) steps
    visits: tuple[int, int] = (1, 1)
    gap: tuple[int, int] = (2, 7)
    first: tuple[Spec, ...] = ()  # billed at the first visit (or the first day of a stay)
    each: tuple[Spec, ...] = ()  # billed at every outpatient visit
    drugs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (KCD prefix, ATC prefixes); "" matches any
    rx: float = 0.0  # probability of a prescription per outpatient visit
    rx_days: tuple[int, int] = (3, 5)
    rx_drugs: tuple[int, int] = (1, 3)
    injury: bool = False
    stay: Stay | None = None
    emergency: float = 0.0  # probability of an emergency-room visit at 종합·상급종합

    def factor(self, age: int, sex: str) -> float:
        if not self.ages[0] <= age <= self.ages[1] or (self.sex and self.sex != sex):
            return 0.0
        multiplier = 1.0
        for start, value in self.age_factor:
            if age >= start:
                multiplier = value
        return multiplier

    def diagnoses_for(self, sex: str) -> tuple[str, ...]:
        return _diagnoses_for(self, sex)


CLINIC_PLUS = (("31", 0.85), ("21", 0.1), ("11", 0.05))
XRAY = "G2201|G2301|G2401|G2501|G2601"
NSAID = ("M01A", "N02BE")
RESPIRATORY_DRUGS = ("J01C", "J01D", "J01F", "R05", "R06A", "N02BE", "R03DC")

KINDS: tuple[Kind, ...] = (
    Kind("respiratory", ("J00", "J01.9", "J02.9", "J03.9", "J04.0", "J06.9", "J20.9", "J10.1", "J11.1", "J30.4",
                         "J32.9", "J40", "J45.9", "R05", "R50.9"),
         ("01", "11", "13", "23", "00"), (("31", 0.88), ("21", 0.08), ("11", 0.04)), 0.55,
         age_factor=((0, 2.2), (10, 1.2), (20, 0.9), (65, 1.1)), visits=(1, 2), gap=(2, 4),
         first=(("C5710", 0.08), ("B1010", 0.08), ("C2200", 0.08), ("G2101", 0.06), ("G2701", 0.04),
                ("E7520", 0.05), ("NC020|NC021", 0.03)),
         each=(("KK010+990000750", 0.15),),
         drugs=(("J10", ("J05AH",)), ("J11", ("J05AH",)), ("J45", ("R03", "R06A")), ("", RESPIRATORY_DRUGS)),
         rx=0.9, rx_days=(3, 5)),
    Kind("gastro", ("A09.0", "A09.9", "K29.7", "K29.1", "K30", "K21.0", "K21.9", "K25.9", "K58.9", "K59.0", "R10.4",
                    "R11", "K52.9"),
         ("01", "23", "00", "04"), CLINIC_PLUS, 0.2, visits=(1, 2), gap=(3, 10),
         first=(("B1010", 0.2), ("C3710+C3720", 0.15), ("G2801", 0.1), ("EB401", 0.05), ("E7611", 0.04)),
         each=(("KK050+990001140", 0.08), ("NC023", 0.04)),
         drugs=(("", ("A02B", "A03F", "A03AA", "A07", "A02AD")),), rx=0.9, rx_days=(3, 7)),
    Kind("skin", ("L20.9", "L23.9", "L30.9", "L50.9", "L70.0", "B35.3", "B07", "L03.1", "L21.9", "L40.0", "L29.9",
                  "B02.9"),
         ("14", "23", "00"), (("31", 0.95), ("21", 0.05)), 0.15, visits=(1, 3), gap=(7, 14),
         first=(("M0061", 0.05),),
         drugs=(("B02", ("J05AB",)), ("B35", ("D01", "J02AC")), ("L03", ("J01C", "D06")),
                ("", ("D07", "R06A", "D06"))),
         rx=0.9, rx_days=(7, 14)),
    Kind("eye", ("H10.3", "H10.9", "H00.0", "H04.1", "H52.1", "H16.9", "H40.9", "H11.0", "T15.0", "H01.0"),
         ("12",), (("31", 0.9), ("21", 0.05), ("11", 0.05)), 0.12, age_factor=((0, 1.0), (60, 1.5)),
         visits=(1, 2), gap=(7, 21),
         first=(("E6660", 0.6), ("E6800", 0.3), ("M0171", 0.03)), each=(("E6670", 0.8),),
         drugs=(("H40", ("S01E",)), ("", ("S01",))), rx=0.7, rx_days=(7, 14), rx_drugs=(1, 2)),
    Kind("ent", ("H60.9", "H66.9", "H65.9", "H61.2", "H81.1", "J32.9", "J01.9", "J03.9", "J30.4", "H93.1"),
         ("13",), (("31", 0.92), ("21", 0.05), ("11", 0.03)), 0.12, age_factor=((0, 1.8), (10, 1.0)),
         visits=(1, 3), gap=(2, 5),
         first=(("F6350", 0.15),), each=(("E7520", 0.4), ("M0091", 0.08)),
         drugs=(("H81", ("R06A", "A03FA")), ("", ("J01C", "J01D", "R06A", "R01", "R05"))),
         rx=0.85, rx_days=(3, 5)),
    Kind("msk", ("M54.5", "M54.2", "M51.2", "M51.1", "M17.9", "M75.1", "M75.0", "M75.4", "M77.1", "M79.1",
                 "M62.6", "S33.5", "S13.4", "S93.4", "S63.5", "M72.2", "M65.3", "M48.06", "M50.2", "M25.56"),
         ("05", "21", "09", "06", "00"), (("31", 0.8), ("21", 0.17), ("11", 0.03)), 0.35,
         age_factor=((0, 0.3), (20, 1.0), (40, 1.3), (60, 1.6)), visits=(1, 6), gap=(2, 7),
         first=((XRAY, 0.6), ("NC060", 0.1), ("NC010|NC011|NC012|NC013", 0.05)),
         each=(("MM010+MM042", 0.7), ("MM070", 0.3), ("MM030", 0.1), ("MM101", 0.15),
               ("KK060+990001130", 0.08), ("LA321|LA221|LA341", 0.05), ("KK010+990000240", 0.12),
               ("NC001|NC004", 0.3), ("NC002|NC005", 0.12), ("NC003|NC006", 0.08), ("NC007", 0.04),
               ("NC020|NC022", 0.03)),
         drugs=(("", ("M01A", "M03B", "N02BE", "A02BX", "M02A")),), rx=0.75, rx_days=(3, 7), rx_drugs=(2, 4)),
    Kind("chronic", ("I10", "E11.9", "E78.0", "E78.5", "I11.9", "E03.9", "K76.0", "N40@M"),
         ("01", "23", "00"), CLINIC_PLUS, 0.3, ages=(35, 110),
         age_factor=((35, 0.5), (50, 1.2), (60, 2.2)), visits=(2, 4), gap=(28, 90),
         first=(("C3760", 0.5), ("C3811", 0.4), ("C3730+C3740", 0.4), ("C3710+C3720+C3750", 0.3),
                ("B1010", 0.3), ("E6541", 0.1)),
         drugs=(("I1", ("C08", "C09", "C07", "C03")), ("E11", ("A10B",)), ("E78", ("C10",)), ("E03", ("H03",)),
                ("K76", ("A02BX",)), ("N40", ("G04CA",))),
         rx=0.98, rx_days=(28, 90), rx_drugs=(1, 2)),
    Kind("injury", ("S01.0", "S61.0", "S60.0", "S90.0", "S80.0", "S40.0", "T14.0", "S52.5", "S82.6", "S62.6",
                    "S92.3", "T23.2", "S06.0", "S93.4"),
         ("04", "05", "24", "23", "08", "00"), (("31", 0.6), ("21", 0.2), ("11", 0.15), ("01", 0.05)), 0.12,
         age_factor=((0, 1.3), (30, 1.0)), visits=(1, 3), gap=(2, 5),
         first=((XRAY, 0.7), ("M0121+L0101", 0.25), ("M0151", 0.15), ("M0141", 0.08)),
         each=(("M0111", 0.6), ("KK010+990000250", 0.15)),
         drugs=(("", ("J01C", "M01A", "D06", "N02BE")),), rx=0.8, rx_days=(3, 5), injury=True, emergency=0.5),
    Kind("mental", ("F32.9", "F41.0", "F41.1", "F43.2", "F51.0", "G47.0", "F90.0"),
         ("03",), (("31", 0.9), ("21", 0.1)), 0.05, ages=(8, 110), visits=(1, 4), gap=(14, 28),
         each=(("NN011", 0.9),),
         drugs=(("F90", ("N06A",)), ("F51", ("N05C",)), ("G47", ("N05C",)), ("", ("N06A", "N05B"))),
         rx=0.95, rx_days=(14, 28), rx_drugs=(1, 2)),
    Kind("women", ("N76.0", "B37.3", "N94.6", "N92.0", "N95.1", "N83.2", "D25.9", "N30.0"),
         ("10",), CLINIC_PLUS, 0.1, ages=(15, 65), sex="F", visits=(1, 2), gap=(7, 14),
         first=(("B1510", 0.5), ("B1010", 0.2)),
         drugs=(("N76", ("P01AB", "J02AC")), ("B37", ("J02AC",)), ("N30", ("J01MA",)), ("", ("N02BE", "M01AE"))),
         rx=0.8, rx_days=(3, 7)),
    Kind("urology", ("N39.0", "N30.0", "N20.0", "N40@M", "N41.1@M", "R31"),
         ("15", "01"), (("31", 0.8), ("21", 0.1), ("11", 0.1)), 0.06, ages=(18, 110),
         age_factor=((18, 0.7), (50, 1.5)), visits=(1, 2), gap=(7, 21),
         first=(("B1510", 0.8), ("G2801", 0.3)),
         drugs=(("N4", ("G04CA",)), ("N20", ("M01A", "G04CA")), ("", ("J01MA", "J01D"))), rx=0.9, rx_days=(3, 14)),
    Kind("neuro", ("G44.2", "G43.9", "R42", "G56.0", "G51.0", "R51", "G62.9"),
         ("02", "01", "23"), CLINIC_PLUS, 0.06, ages=(10, 110), visits=(1, 3), gap=(7, 28),
         first=(("HA401", 0.05), ("HE101", 0.02)),
         drugs=(("G62", ("N03AX",)), ("G56", ("N03AX", "M01A")), ("G51", ("H02AB", "J05AB")),
                ("", ("N02BE", "M01A"))),
         rx=0.85, rx_days=(7, 28), rx_drugs=(1, 2)),
    Kind("specialist", ("K63.5", "K62.1", "K25.9", "D34", "E04.1", "N63@F", "D24@F", "K80.2", "R07.4", "I20.9"),
         ("01", "04", "16"), (("21", 0.4), ("11", 0.4), ("01", 0.2)), 0.08, ages=(30, 110), visits=(1, 2),
         gap=(7, 30),
         first=(("E7660", 0.2), ("Q7651", 0.1), ("E7611", 0.25), ("EB411", 0.15), ("EB451", 0.1), ("EB401", 0.2),
                ("E6541", 0.3), ("HA421", 0.1), ("B1010", 0.5), ("C3710+C3720", 0.3)),
         drugs=(("K", ("A02B",)), ("I2", ("B01AC", "C07")), ("", ("N02BE",))), rx=0.5, rx_days=(7, 30)),
    Kind("severe", ("C16.9", "C18.9", "C34.9", "C50.9@F", "C73", "C61@M", "C22.0", "I63.9", "I21.9"),
         ("01", "04", "02", "17"), (("01", 0.6), ("11", 0.4)), 0.02, ages=(35, 110),
         age_factor=((35, 0.5), (50, 1.0), (65, 2.0)), visits=(2, 6), gap=(7, 21),
         first=(("HA421", 0.4), ("HF101", 0.1), ("E6541", 0.3), ("C3710+C3720+C3750", 0.5)),
         each=(("B1010", 0.7), ("HD110", 0.2), ("NC023", 0.05)),
         drugs=(("I", ("B01AC", "C10")), ("", ("A04AA", "H02AB", "N02AJ", "A02B"))), rx=0.7, rx_days=(7, 28)),
    Kind("dental", ("K02.1", "K02.9", "K04.0", "K04.7", "K05.1", "K05.3", "K01.1", "K07.6"),
         ("49", "50", "54", "55"), (("51", 0.9), ("41", 0.1)), 0.2, visits=(1, 3), gap=(7, 14),
         first=(("U2233", 0.4), ("NC081", 0.04), ("NC080", 0.02)),
         each=(("U0201", 0.3), ("U0240", 0.3), ("U4416+L0101", 0.08)),
         drugs=(("", ("J01CA", "M01AE", "N02BE")),), rx=0.5, rx_days=(3, 5)),
    Kind("pregnancy", ("Z34.9", "O21.0", "O20.0"), ("10",), (("31", 0.6), ("21", 0.3), ("11", 0.1)), 0.04,
         ages=(20, 44), sex="F", visits=(1, 3), gap=(14, 28),
         first=(("B1010+B1510", 0.6),), drugs=(("", ("B03",)),), rx=0.3, rx_days=(28, 30), rx_drugs=(1, 2)),
    # -- stays ------------------------------------------------------------------------------------------------
    Kind("appendectomy", ("K35.8",), ("04",), (("11", 0.5), ("21", 0.3), ("01", 0.2)), 0.008,
         first=(("B1010+C2200", 1.0), ("HA421", 0.3)),
         stay=Stay((3, 5), surgery=("Q2860+L1211",), daily=(("KK050+990001140", 1.0), ("J1500", 0.8)))),
    Kind("haemorrhoids", ("K64.9",), ("04",), (("21", 0.6), ("11", 0.3), ("31", 0.1)), 0.01, ages=(20, 90),
         first=(("B1010", 1.0),), stay=Stay((2, 4), surgery=("Q7620+L0201",), daily=(("J1500", 0.8),))),
    Kind("meniscus", ("S83.2", "M23.2"), ("05",), (("21", 0.6), ("11", 0.4)), 0.008, ages=(15, 80),
         first=(("NC010|NC012", 0.5), (XRAY, 0.8)),
         stay=Stay((2, 5), surgery=("N0711+L0201",), daily=(("MM010+MM042", 0.6), ("NC001", 0.3), ("NC070", 0.1),
                                                          ("J1500", 0.8)))),
    Kind("cataract", ("H25.9", "H26.9"), ("12",), (("31", 0.4), ("21", 0.3), ("11", 0.3)), 0.03, ages=(55, 100),
         first=(("E6670", 1.0),), stay=Stay((1, 2), surgery=("S5111+L0101",))),
    Kind("caesarean", ("O82.0", "O82.1"), ("10",), (("11", 0.5), ("21", 0.3), ("01", 0.2)), 0.03, ages=(24, 43),
         sex="F", first=(("B1010", 1.0),),
         stay=Stay((5, 7), surgery=("R4351+L0201",), daily=(("KK050+990001140", 0.6), ("J1500", 1.0)))),
    Kind("medical_stay", ("J18.9", "J15.9", "J12.9", "A09.0", "N10", "K85.9", "L03.1", "K29.0"),
         ("01", "11", "23"), (("21", 0.4), ("11", 0.45), ("01", 0.15)), 0.04,
         age_factor=((0, 2.0), (5, 0.6), (60, 1.2), (70, 2.5)),
         first=(("B1010+C2200", 1.0), ("C3710+C3720+C3750", 0.7), ("G2101", 0.6), ("G2801", 0.2)),
         stay=Stay((3, 8), daily=(("KK050+990001140", 1.0), ("J1500", 0.8), ("NC023", 0.15)))),
    Kind("spine_stay", ("M51.1", "M54.4", "M48.06", "M50.2"), ("05", "06", "21"), (("21", 0.8), ("11", 0.2)),
         0.025, ages=(20, 95), age_factor=((20, 1.0), (40, 1.5)),
         first=((XRAY, 0.8), ("NC010|NC011", 0.5), ("LA321", 0.3)),
         stay=Stay((4, 10), daily=(("MM010+MM042", 0.9), ("KK010+990000240", 0.5), ("NC001|NC004", 0.5),
                                   ("NC023", 0.3), ("J1500", 0.8)))),
    Kind("severe_stay", ("C16.9", "C18.9", "C34.9", "C50.9@F", "C22.0", "C61@M", "C73", "I63.9", "I61.9", "I21.9"),
         ("01", "04", "02"), (("01", 0.6), ("11", 0.4)), 0.012, ages=(30, 110),
         age_factor=((30, 0.5), (50, 1.5), (70, 3.0)),
         first=(("HA421|HA401", 0.8), ("HE101", 0.2), ("E6541", 0.6), ("B1010+C2200", 1.0), ("X2021", 0.15)),
         stay=Stay((5, 20), daily=(("KK050+990001140", 1.0), ("J1500", 1.0), ("990000490", 0.4), ("NC023", 0.2)),
                   interim_every=14)),
    Kind("long_term_care", ("G30.9", "I69.3", "G20", "M80.9@F"), ("01", "21", "23"), (("28", 1.0),), 0.05,
         ages=(70, 110), first=(("B1010", 1.0),),
         stay=Stay((20, 60), daily=(("AH101", 1.0),), rooms=False, interim_every=30)),
    Kind("psychiatric_stay", ("F20.9", "F31.9", "F32.9", "F10.2"), ("03",), (("29", 1.0),), 0.01, ages=(18, 90),
         first=(("B1010", 1.0),), stay=Stay((14, 45), daily=(("NN011", 1.0), ("NN051", 0.5), ("J1500", 1.0)),
                                             interim_every=30)),
)

KIND_BY_NAME = {kind.name: kind for kind in KINDS}

#: Inpatient room rows: (procedure code, probability, room label, non-covered difference or "").
ROOMS = (("AB240", 0.75, "다인실", ""), ("AB230", 0.18, "2인실", ""), ("AB210", 0.07, "1인실", "NC030"))
MEALS = (("FA101", 0.9), ("FA201", 0.1))
#: Covered copay share of rows that NHIS charges differently from the visit's rate (inpatient meals).
ITEM_RATES = {"FA101": 0.5, "FA201": 0.5, "AB230": 0.4}

#: Items billed at foreign providers (the patient brings the receipt; NHIS never applies).
FOREIGN_ITEMS = (("FRN01", "ENAMT", "Consultation / 진찰료", 80_000, 250_000),
                 ("FRN02", "EXAMT", "Laboratory tests / 검사료", 50_000, 400_000),
                 ("FRN03", "IMG_DIAMT", "Imaging / 영상진단료", 0, 600_000),
                 ("FRN04", "CPMD_MDAMT", "Medication / 약품비", 10_000, 120_000))

#: Consultation codes by tier: (first visit, follow-up).
CONSULTATION = {"clinic": ("AA154", "AA254"), "public_health": ("AA154", "AA254"), "hospital": ("AA155", "AA255"),
                "general": ("AA156", "AA256"), "tertiary": ("AA157", "AA257")}
EMERGENCY_FEE = "V1000"
#: Drugs of 향정신성의약품 (controlled) classes: the pharmacy bills Z5001 instead of Z5000.
CONTROLLED_ATC = ("N05BA", "N05CF")


@cache
def _diagnoses_for(kind: Kind, sex: str) -> tuple[str, ...]:
    out = []
    for entry in kind.diagnoses:
        code, _, only = entry.partition("@")
        if not only or only == sex:
            out.append(code)
    return tuple(out)


@cache
def prescribable(atc_prefix: str) -> tuple[str, ...]:
    """Covered, non-injectable drugs of an ATC group: what a clinic prescribes to a pharmacy."""
    return tuple(code for code, entry in DRUGS.items()
                 if entry["atc"].startswith(atc_prefix) and entry["route"] != "injection" and entry["covered"])


@cache
def drug_pool(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """Prescribable drugs of several ATC groups, without duplicates, in code-list order."""
    return tuple(dict.fromkeys(code for prefix in prefixes for code in prescribable(prefix)))


@cache
def parse_spec(spec: str) -> tuple[tuple[str, ...], ...]:
    """``"A|B+C"`` → alternatives, each a tuple of codes billed together."""
    return tuple(tuple(part.split("+")) for part in spec.split("|"))


def _check() -> None:
    """Every code the catalog names exists in the code lists (fails at import, not mid-scenario)."""
    for kind in KINDS:
        for entry in kind.diagnoses:
            code = entry.partition("@")[0]
            if code not in KCD:
                raise ValueError(f"catalog kind {kind.name}: KCD {code} is not in fixtures/codes/kcd.json")
        specs = [spec for spec, _ in (*kind.first, *kind.each)]
        if kind.stay:
            specs += [*kind.stay.surgery, *(spec for spec, _ in kind.stay.daily)]
        for spec in specs:
            for alternative in parse_spec(spec):
                for code in alternative:
                    if code not in PROCEDURES and code not in DRUGS:
                        raise ValueError(f"catalog kind {kind.name}: {code} is in no code list")
        for _, prefixes in kind.drugs:
            for prefix in prefixes:
                if not prescribable(prefix):
                    raise ValueError(f"catalog kind {kind.name}: no prescribable drug with ATC prefix {prefix}")
    for code, *_ in ROOMS:
        if code not in PROCEDURES:
            raise ValueError(f"catalog room row {code} is not in fixtures/codes/procedures.json")


_check()
