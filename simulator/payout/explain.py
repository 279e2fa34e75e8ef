"""Render an adjudication as a table a claims handler can check: per visit, what was billed, every
deductible (floor or rate, and which won), cap and exclusion, ending in the total. Korean or English."""

from __future__ import annotations

import io
from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .engine import Adjudication
from .labels import KIND_EN, KIND_KO, TIER_EN, TIER_KO, we, wk
from .settle import Line
from .visits import Part

_KIND = {"outpatient": ("외래", "outpatient"), "pharmacy": ("약국", "pharmacy"), "inpatient": ("입원", "inpatient")}


def _title(key: str, parts: list[Part], ko: bool) -> str:
    if key.startswith("d|"):
        return f"{key[2:]} — 하루 합산 (특약2: 그날의 외래·처방을 모두 더함)" if ko else \
            f"{key[2:]} — whole day (rider 2 adds up all outpatient and pharmacy bills of the day)"
    if key == "shared":
        return "중복가입 비례보상 (다른 실손 계약과 나눔)" if ko else \
            "Duplicate cover: shared with the other indemnity policies"
    if not parts:
        return key
    first = parts[0]
    when = first.day.isoformat() if first.kind != "inpatient" else f"{first.day}~{max(p.end for p in parts)}"
    who = []
    for p in parts:
        kind = _KIND[p.kind][0 if ko else 1]
        tier = (TIER_KO if ko else TIER_EN)[p.tier]
        via = (f"처방기관 {tier}" if ko else f"prescribed at a {tier}") if p.kind == "pharmacy" else tier
        who.append(f"{p.provider_name} ({kind}, {via})")
    purpose = first.purpose or ("목적 미상" if ko else "purpose unknown")
    excluded = key.startswith("x|")
    tag = (" — 제외" if ko else " — excluded") if excluded else ""
    dx = f"상병 {purpose}" if ko else f"diagnosis {purpose}"
    return f"{when} · {' + '.join(who)} · {dx}{tag}"


def _billed(parts: list[Part], ko: bool) -> str:
    covered = sum(p.covered_gross for p in parts)
    ceiling = sum(p.ceiling_excess for p in parts)
    non_covered = sum(p.non_covered for p in parts)
    room = sum(p.private_room for p in parts)
    big: dict[str, int] = defaultdict(int)
    for p in parts:
        for kind, amount, _ in p.big_three:
            big[kind] += amount
    w = wk if ko else we
    out = [f"{'급여 본인부담' if ko else 'covered copay'} {w(covered)}"]
    if ceiling:
        out.append(f"{'상한액 초과금' if ko else 'above NHIS ceiling'} {w(ceiling)}")
    out.append(f"{'비급여' if ko else 'non-covered'} {w(non_covered)}")
    if room:
        out.append(f"{'상급병실 차액' if ko else 'private-room difference'} {w(room)}")
    for kind, amount in big.items():
        out.append(f"{(KIND_KO if ko else KIND_EN)[kind]} {w(amount)}")
    ids = ", ".join(dict.fromkeys(p.visit_id for p in parts))
    return ("청구: " if ko else "billed: ") + " / ".join(out) + (f"  [{ids}]" if ids else "")


def explanation_rows(adj: Adjudication, lang: str = "ko") -> list[tuple[str, list[Line], list[Part]]]:
    """Sections in visit order: (title line, its explanation lines, its parts)."""
    ko = lang == "ko"
    parts_by: dict[str, list[Part]] = defaultdict(list)
    for key, part in adj.parts:
        parts_by[key].append(part)
    order = list(dict.fromkeys([key for key, _ in adj.parts] + [line.section for line in adj.lines]))
    lines_by: dict[str, list[Line]] = defaultdict(list)
    for line in adj.lines:
        lines_by[line.section].append(line)
    return [(_title(key, parts_by[key], ko), lines_by[key], parts_by[key]) for key in order]


def render(adj: Adjudication, lang: str = "ko", *, width: int = 150, basis: bool = True) -> str:
    """The explanation as text (a rich table), ending in the total."""
    ko = lang == "ko"
    w = wk if ko else we
    pol = adj.policy
    table = Table(title=("보험금 산정 내역" if ko else "Payout explanation"), show_lines=False, expand=False)
    table.add_column("항목" if ko else "item", overflow="fold", ratio=3)
    table.add_column("금액" if ko else "amount", justify="right", no_wrap=True)
    if basis:
        table.add_column("근거" if ko else "basis", overflow="fold", style="dim", ratio=2)
    for title, lines, parts in explanation_rows(adj, lang):
        table.add_section()
        table.add_row(f"[bold]{escape(title)}[/]", "", *([""] if basis else []))
        if parts:
            table.add_row(f"[italic]{escape(_billed(parts, ko))}[/]", "", *([""] if basis else []))
        for line in lines:
            label = line.label_ko if ko else line.label_en
            table.add_row(f"  {escape(label)}", f"{line.amount:+,}", *([escape(line.basis)] if basis else []))
        subtotal = sum(line.amount for line in lines)
        table.add_row("  " + ("소계" if ko else "subtotal"), f"[bold]{subtotal:,}[/]", *([""] if basis else []))
    table.add_section()
    table.add_row("[bold]" + ("지급액 합계" if ko else "Total payout") + "[/]", f"[bold]{w(adj.total)}[/]",
                  *([""] if basis else []))
    riders = ", ".join(str(pol.table.riders[r].get("label_ko" if ko else "label_en", r)) for r in sorted(pol.riders)) \
        or ("없음" if ko else "none")
    head = (f"{pol.insurer_code} {pol.policy_number} · {pol.table.label_ko if ko else pol.table.label_en} "
            f"[{pol.table.id}] · {'계약일' if ko else 'contract'} {pol.contract_date} · "
            f"{'특약' if ko else 'riders'}: {riders}\n"
            f"{'청구일' if ko else 'claim date'} {adj.claim_date} · {'사고 종류' if ko else 'accident type'} "
            f"{adj.accident_type}")
    years = ", ".join(sorted({pol.year_start(part.day).isoformat() for _, part in adj.parts}))
    n = pol.table.limitation_years
    foot = (f"보험연도는 계약해당일부터 1년입니다 (1월 1일이 아님; 이번 청구의 보험연도 시작: {years}). "
            "비율 공제는 원 미만 절사. "
            f"소멸시효 {n}년: 진료일(약국은 조제일, 입원은 계산서 종료일) 다음 날부터 세어(초일불산입) "
            f"{n}년 뒤 같은 날짜가 끝나면 소멸.") if ko else (
            "Policy years run from the contract anniversary "
            f"(not 1 January; policy years of this claim start {years}). "
            f"Rates are applied exactly and rounded down to the won. Limitation {pol.table.limitation_years} years: "
            f"counted from the day after the treatment (dispensing for pharmacies, bill end for inpatient stays), "
            f"the claim lapses at the end of the same calendar date {pol.table.limitation_years} years later.")
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, soft_wrap=False)
    console.print(escape(head), highlight=False)
    console.print(table)
    console.print(escape(foot), highlight=False)
    total_line = f"{'지급액 합계' if ko else 'Total payout'}: {w(adj.total)}"
    console.print(total_line, highlight=False)
    return out.getvalue()
