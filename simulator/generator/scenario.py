"""Write a scenario directory: patients drawn in chunks (in a process pool), streamed to disk in order.

Determinism: patient ``i`` is drawn from ``random.Random(f"{seed}:{i}")`` alone and the providers from
``Random(f"{seed}:providers")``, so a patient's records do not depend on the worker that drew them; the
parent writes the chunks in patient order. The one scenario-wide counter, the serial of each prescription's
교부번호 per issue date, is assigned by the parent while writing (workers leave a placeholder that
:class:`Numbering` replaces). No clock, no set order, no hash order reaches the output.

Memory: at most ``2 × workers`` chunks are in flight; nothing else grows with the scenario.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from collections.abc import Generator as Stream  # not to be confused with the Generator class below
from contextlib import closing
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from random import Random
from typing import Any

from faker import Faker

from ...fixtures import fixture_path
from ..people import register
from . import hardcases
from .care import Builder, Visit, plan, visit_window
from .catalog import KINDS
from .claims import ZERO_REASONS, make_claims, payout_engine
from .context import Context, OptionError, Options
from .emr_seed import TABLES, csv_row, patient_row, provider_row, visit_rows
from .policies import draw_policies, load_mix
from .population import Network, Patient, build_network, draw_patient

EMR_TABLES = tuple(TABLES)
#: Output files written chunk by chunk, in the order the parent numbers prescriptions.
STREAMS = ("expected/documents.jsonl", "expected/index.jsonl", "claims.jsonl", "policies.jsonl",
           *(f"emr-seed/{t}.{ext}" for t in EMR_TABLES if t != "providers" for ext in ("csv", "jsonl")))
_PLACEHOLDER = re.compile(rb"([0-9]{8})-#([0-9]+)\.([0-9]+)#")
MAX_SERIAL = 99_999
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
COMPRESSED = ".gz"  # --compress: every streamed file gzip'ed (fixed header: same bytes for the same seed)
GZIP_LEVEL = 6
# patients drawn to estimate a scenario's size before writing it: runs spread over the whole range, since
# visits per patient vary a lot (32 first patients once guessed 24% low)
ESTIMATE_RUNS, ESTIMATE_RUN = 6, 16


def kit_version() -> str:
    try:
        return version("silson24-kit")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "0+unknown"


class ScenarioError(RuntimeError):
    """Generation cannot go on; explained in Korean and English."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en = message_ko, message_en


@dataclass(slots=True)
class Outcome:
    """One patient, fully drawn."""

    patient: Patient
    policies: list[dict[str, Any]]
    visits: list[Visit]
    claims: list[dict[str, Any]]
    payout_failures: int = 0


@dataclass(slots=True)
class Chunk:
    """The serialised output of a run of patients, and what it holds."""

    start: int
    stop: int
    data: dict[str, bytes]
    counts: Counter[str] = field(default_factory=Counter)


class Generator:
    """Draws patients for resolved ``options``; one per process (workers build their own)."""

    def __init__(self, options: Options, *, payouts: bool = True) -> None:
        self.options = options
        self.fake = register(Faker("ko_KR"))
        network = build_network(options, self.fake)
        kinds = tuple(k for k in KINDS if network.places(k) is not None)
        if not kinds:
            target = network.target
            raise ScenarioError(f"요양기관 {target.code if target else ''}에서 생성할 수 있는 진료가 없습니다",
                                f"the generator has no care to put at provider {target.code if target else ''}")
        self.ctx = Context(options, network, kinds, load_mix(options))
        self.adjudicate = payout_engine() if payouts else None

    @property
    def network(self) -> Network:
        return self.ctx.network

    def insured(self, index: int) -> tuple[Random, Patient, list[dict[str, Any]]]:
        """Patient ``index`` and the policies, with the random stream that goes on to draw the care."""
        rng = Random(f"{self.options.seed}:{index}")
        self.fake.random = rng
        patient = draw_patient(self.fake, rng, self.options, index, self.network)
        return rng, patient, draw_policies(rng, patient, self.ctx.mix)

    def patient(self, index: int) -> Outcome:
        """Patient ``index`` with policies, visits, documents and claims (issue numbers still placeholders)."""
        ctx = self.ctx
        rng, patient, policies = self.insured(index)
        case = hardcases.choose(rng, patient, policies, ctx)
        window = visit_window(patient, policies, ctx)
        planned = plan(rng, patient, window, ctx)
        hardcases.apply(rng, case, patient, policies, planned, window, ctx)
        visits = Builder(rng, patient, ctx).build(planned)
        hardcases.tag(visits, patient, ctx.as_of)
        claims, failures = make_claims(rng, patient, policies, visits, ctx, self.adjudicate)
        return Outcome(patient, policies, visits, claims, failures)

    def chunk(self, start: int, stop: int) -> Chunk:
        """Patients ``start``..``stop - 1``, serialised (UTF-8) per output file."""
        out: dict[str, list[str]] = {name: [] for name in STREAMS}
        csv_buffers = {t: io.StringIO() for t in EMR_TABLES}
        writers = {t: csv.writer(buf, lineterminator="\n") for t, buf in csv_buffers.items()}
        counts: Counter[str] = Counter()
        for index in range(start, stop):
            outcome = self.patient(index)
            _serialise(outcome, out, writers, counts)
        data = {name: "".join(lines).encode() for name, lines in out.items() if not name.endswith(".csv")}
        for table, buf in csv_buffers.items():
            if table != "providers":
                data[f"emr-seed/{table}.csv"] = buf.getvalue().encode()
        return Chunk(start, stop, data, counts)


def _serialise(outcome: Outcome, out: dict[str, list[str]], writers: dict[str, Any], counts: Counter[str]) -> None:
    patient = outcome.patient
    counts["patients"] += 1
    counts["payout_failures"] += outcome.payout_failures
    _row(out, writers, "patients", patient_row(patient))
    for record in outcome.policies:
        out["policies.jsonl"].append(_dumps(record) + "\n")
        counts["policies"] += 1
        counts[f"policies.gen{record['generation']}"] += 1
    docs_out, index_out = out["expected/documents.jsonl"], out["expected/index.jsonl"]
    for visit in outcome.visits:
        counts["visits"] += 1
        counts[f"visits.{visit.setting}"] += 1
        numbers = {}
        for doc in visit.documents:
            docs_out.append(_dumps(doc) + "\n")
            kind = doc["document_type"]
            counts[f"documents.{kind}"] += 1
            numbers[kind] = doc.get("statement_number") or doc.get("receipt_number") or doc.get("issue_number")
        source = "patient" if visit.provider.abroad else "emr"
        for tag in visit.tags:
            counts[f"hard_cases.{tag}"] += 1
        index_out.append(_dumps({"visit_id": visit.visit_id, "patient_id": patient.patient_id,
                                 "provider_code": visit.provider.code, "setting": visit.setting,
                                 "start_date": visit.start.isoformat(), "end_date": visit.end.isoformat(),
                                 "start_time": visit.at.strftime("%H:%M") if visit.at else None,
                                 "source": source, "document_types": list(numbers), "documents": numbers,
                                 "tags": sorted(visit.tags)}) + "\n")
        if source == "emr":
            counts["visits.emr"] += 1
            for table, row in visit_rows(visit, patient):
                _row(out, writers, table, row)
    for record in outcome.claims:
        out["claims.jsonl"].append(_dumps(record) + "\n")
        counts["claims"] += 1
        counts["payouts"] += sum(1 for value in record["expected"].values() if value is not None)
        if all(value is not None and not value["total"] for value in record["expected"].values()):
            reason = next((t for t in ZERO_REASONS if t in record["tags"]), "unexplained")
            counts[f"claims_paying_nothing.{reason}"] += 1


def _row(out: dict[str, list[str]], writers: dict[str, Any], table: str, row: dict[str, Any]) -> None:
    out[f"emr-seed/{table}.jsonl"].append(_dumps(row) + "\n")
    writers[table].writerow(csv_row(table, row))


class Numbering:
    """Scenario-wide 교부번호 serials per issue date, assigned in output order."""

    def __init__(self) -> None:
        self.last: dict[bytes, int] = {}

    def stamp(self, chunk: Chunk) -> None:
        """Replace the chunk's placeholders (the same placeholder gets the same number in every file)."""
        assigned: dict[bytes, bytes] = {}

        def number(match: re.Match[bytes]) -> bytes:
            token = match.group(0)
            found = assigned.get(token)
            if found is None:
                day = match.group(1)
                serial = self.last.get(day, 0) + 1
                if serial > MAX_SERIAL:
                    text = day.decode()
                    raise ScenarioError(f"{text}에 교부한 처방전이 {MAX_SERIAL:,}건을 넘습니다: 기간을 늘리십시오",
                                        f"more than {MAX_SERIAL:,} prescriptions issued on {text}; widen --from/--to")
                self.last[day] = serial
                found = assigned[token] = day + b"-%05d" % serial
            return found

        for name in STREAMS:
            data = chunk.data.get(name)
            if data and b"-#" in data:
                chunk.data[name] = _PLACEHOLDER.sub(number, data)


# -- pool -------------------------------------------------------------------------------------------------

_WORKER: Generator | None = None


def _init_worker(options: Options) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _WORKER = Generator(options)


def _work(bounds: tuple[int, int]) -> Chunk:
    assert _WORKER is not None
    return _WORKER.chunk(*bounds)


def chunk_bounds(patients: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, patients, size):
        yield start, min(start + size, patients)


def chunks(options: Options, workers: int = 1, size: int | None = None, generator: Generator | None = None
           ) -> Stream[Chunk, None, None]:
    """Stamped chunks of the scenario in patient order, computed by ``workers`` processes."""
    # small chunks: a worker's peak memory grows with the largest chunk it has serialised
    size = size or max(1, min(16, options.patients // max(1, workers * 8) or 1))
    numbering = Numbering()
    bounds = chunk_bounds(options.patients, size)
    if workers <= 1:
        generator = generator or Generator(options)
        for start, stop in bounds:
            chunk = generator.chunk(start, stop)
            numbering.stamp(chunk)
            yield chunk
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = multiprocessing.get_context(method).Pool(workers, initializer=_init_worker, initargs=(options,))
    try:
        pending = []
        window = 2 * workers  # bounded look-ahead: memory does not grow with the scenario
        for bound in bounds:
            pending.append(pool.apply_async(_work, (bound,)))
            if len(pending) >= window:
                chunk = pending.pop(0).get()
                numbering.stamp(chunk)
                yield chunk
        for result in pending:
            chunk = result.get()
            numbering.stamp(chunk)
            yield chunk
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# -- writing ----------------------------------------------------------------------------------------------


class _Files:
    """Output files of the scenario with their SHA-256, size and line count kept while writing.

    ``compress``: the streamed files are written gzip'ed as ``<name>.gz``; their SHA-256, size and line count
    are those of the content (``gunzip -c FILE | sha256sum``)."""

    def __init__(self, root: Path, compress: bool = False) -> None:
        self.root, self.compress = root, compress
        self.handles: dict[str, Any] = {}
        self.raw: list[Any] = []  # the files under gzip streams, closed after them
        self.hashes: dict[str, Any] = {}
        self.sizes: Counter[str] = Counter()
        self.lines: Counter[str] = Counter()

    def write(self, name: str, data: bytes) -> None:
        if self.compress and name in STREAMS:
            name += COMPRESSED
        if name not in self.handles:
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("wb")
            if name.endswith(COMPRESSED):
                self.raw.append(handle)
                handle = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0, compresslevel=GZIP_LEVEL)
            self.handles[name] = handle
            self.hashes[name] = hashlib.sha256()
        self.handles[name].write(data)
        self.hashes[name].update(data)
        self.sizes[name] += len(data)
        self.lines[name] += data.count(b"\n")

    def close(self) -> dict[str, dict[str, Any]]:
        self.abort()
        return {name: {"sha256": self.hashes[name].hexdigest(), "bytes": self.sizes[name],
                       "lines": self.lines[name]} for name in sorted(self.handles)}

    def abort(self) -> None:
        for handle in [*self.handles.values(), *self.raw]:
            handle.close()


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a scenario will hold and weigh, extrapolated from patients drawn across it, with the range the
    spread between the samples leaves (about two standard errors; exact when every patient was drawn)."""

    visits: int
    plain_bytes: int  # without --compress
    compressed_bytes: int  # with --compress
    low: float = 1.0  # the range, as factors of the figures above
    high: float = 1.0


def estimate(generator: Generator, runs: int = ESTIMATE_RUNS, run: int = ESTIMATE_RUN) -> Estimate:
    """The size of the whole scenario from ``runs`` runs of ``run`` patients spread evenly over it, drawn now
    (patient ``i`` depends on the seed and ``i`` alone, so drawing them here changes nothing written after)."""
    patients = generator.options.patients
    if patients <= runs * run:
        starts, run = [0], patients
    else:
        starts = [k * (patients - run) // (runs - 1) for k in range(runs)]
    samples = []
    for start in starts:
        chunk = generator.chunk(start, start + run)
        samples.append((chunk.counts["visits"], sum(len(data) for data in chunk.data.values()),
                        sum(len(gzip.compress(data, GZIP_LEVEL, mtime=0)) for data in chunk.data.values() if data)))
    scale = patients / (run * len(samples))
    visits, plain, packed = (sum(column) * scale for column in zip(*samples, strict=True))
    spread = 0.0
    if len(samples) > 1:  # the standard error of the mean of the runs, relative to it
        spread = statistics.stdev(s[1] for s in samples) / statistics.fmean(s[1] for s in samples) / len(samples) ** 0.5
    return Estimate(visits=round(visits), plain_bytes=round(plain), compressed_bytes=round(packed),
                    low=max(0.0, 1 - 2 * spread), high=1 + 2 * spread)


def _header(table: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(TABLES[table])
    return buf.getvalue().encode()


def write_into(root: Path, options: Options, workers: int = 1, progress: Callable[[int], None] | None = None,
               *, compress: bool = False, generator: Generator | None = None) -> dict[str, Any]:
    """Write the scenario into the (empty) directory ``root``; returns the manifest."""
    # Built here even for a pool: it writes the providers, and a context that cannot be built fails here, once,
    # rather than in every worker's initializer (where multiprocessing would restart it for ever).
    generator = generator or Generator(options)
    network = generator.network
    files = _Files(root, compress)
    try:
        for table in EMR_TABLES:
            files.write(f"emr-seed/{table}.csv", _header(table))
        for provider in network.domestic:
            row = provider_row(provider)
            files.write("emr-seed/providers.jsonl", (_dumps(row) + "\n").encode())
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow(csv_row("providers", row))
            files.write("emr-seed/providers.csv", buf.getvalue().encode())
        files.write("emr-seed/README.md", fixture_path("population", "EMR-SEED-FORMAT.md").read_bytes())
        for name in STREAMS:  # every file exists even when a table has no rows
            files.write(name, b"")
        totals: Counter[str] = Counter()
        local = generator if workers <= 1 else None
        with closing(chunks(options, workers, generator=local)) as stream:  # closing stops the pool
            for chunk in stream:
                for name in STREAMS:
                    files.write(name, chunk.data.get(name, b""))
                totals.update(chunk.counts)
                if progress:
                    progress(chunk.stop - chunk.start)
        listed = files.close()
    except BaseException:
        files.abort()
        raise
    manifest = _manifest(options, network, totals, listed)
    if compress:
        manifest["compression"] = {"format": "gzip", "files": "*.jsonl.gz, *.csv.gz",
                                   "sha256_of": "the uncompressed content (gunzip -c FILE | sha256sum)"}
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return manifest


def _manifest(options: Options, network: Network, totals: Counter[str], files: dict[str, Any]) -> dict[str, Any]:
    def group(prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in sorted(totals.items()) if k.startswith(prefix)}

    from ...schemas.loader import PROFILE  # here, not at the top: workers need no schema validator

    hard = dict.fromkeys(hardcases.TAGS, 0) | group("hard_cases.")
    insurers = json.loads(fixture_path("population", "insurers.json").read_text(encoding="utf-8"))["insurers"]
    return {
        "profile": PROFILE,
        "kit_version": kit_version(),
        "generator": "s24kit.simulator.generator",
        "synthetic": True,
        "note": "합성 데이터: 실제 환자·기관이 아닙니다 / synthetic data: no real patient, provider or insurer",
        "seed": options.seed,
        "options": options.manifest(),
        "claim_date": options.as_of.isoformat(),
        "target_provider": network.target.code if network.target else None,
        "insurers": {code: {"ko": info["ko"], "en": info["en"]} for code, info in sorted(insurers.items())},
        "counts": {
            "patients": totals["patients"],
            "providers": len(network.domestic),
            "providers_abroad": len(network.foreign),
            "policies": totals["policies"],
            "policies_by_generation": group("policies.gen"),
            "visits": totals["visits"],
            "visits_in_emr": totals["visits.emr"],
            "visits_by_setting": {s: totals[f"visits.{s}"] for s in ("outpatient", "inpatient", "pharmacy")},
            "documents": group("documents."),
            "claims": totals["claims"],
            "claims_paying_nothing": dict.fromkeys(ZERO_REASONS, 0) | group("claims_paying_nothing."),
            "payouts": totals["payouts"],
            "payout_failures": totals["payout_failures"],
            "hard_cases": hard,
        },
        "files": files,
    }


def write_scenario(out: Path, options: Options, *, workers: int = 1, force: bool = False,
                   progress: Callable[[int], None] | None = None, compress: bool = False,
                   generator: Generator | None = None) -> dict[str, Any]:
    """Write the scenario to ``out`` atomically: into a hidden sibling first, renamed when complete."""
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise OptionError("--out", f"--out {out}은(는) 디렉터리가 아니라 파일입니다",
                          f"--out {out} is a file, not a directory")
    replace = out.exists() and any(out.iterdir())
    if replace and not force:
        raise OptionError("--out", f"--out {out}이(가) 비어 있지 않습니다: 다른 경로를 쓰거나 --force로 덮어쓰십시오",
                          f"--out {out} is not empty; choose another directory or overwrite it with --force")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.parent / f".{out.name}.partial-{os.getpid()}"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
    except OSError as exc:
        raise OptionError("--out", f"{out.parent}에 쓸 수 없습니다: {exc.strerror or exc}",
                          f"cannot write to {out.parent}: {exc.strerror or exc}") from None
    try:
        manifest = write_into(partial, options, workers, progress, compress=compress, generator=generator)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            partial.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest
