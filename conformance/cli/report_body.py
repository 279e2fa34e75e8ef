"""``s24kit report body``: rebuild the request body a reproduction line sends, on the vendor's own machine."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from ...simulator import scenario_files
from ..reproduction import STRANGER, STRANGER_ID, fresh_request_id, rebuild
from .params import InputFile, InputFolder, Loaded
from .usage import OneLineCommand, OneLineError


def _patient(scenario: Path | None, patient_id: str) -> dict[str, Any]:
    """The patient ``patient_id`` of ``scenario/emr-seed/patients.jsonl``."""
    if patient_id == STRANGER_ID:
        return dict(STRANGER)
    if scenario is None:
        raise OneLineError("--patient에는 --scenario 폴더가 필요합니다 (s24kit generate --out 으로 만든 폴더)",
                           "--patient needs --scenario DIR (the folder s24kit generate wrote)")
    seed = scenario / "emr-seed" / "patients.jsonl"
    try:
        with scenario_files.open_text(seed) as lines:  # plain or gzip'ed (s24kit generate --compress)
            for line in lines:
                if line.strip() and (patient := json.loads(line)).get("patient_id") == patient_id:
                    return patient
    except OSError as exc:
        raise OneLineError(f"--scenario {scenario}: {seed.name}을(를) 읽을 수 없습니다 ({exc.strerror})",
                           f"--scenario {scenario}: cannot read emr-seed/{seed.name} ({exc.strerror})") from None
    except (UnicodeDecodeError, ValueError, AttributeError, EOFError):
        raise OneLineError(f"--scenario {scenario}: emr-seed/patients.jsonl이 JSON Lines가 아닙니다",
                           f"--scenario {scenario}: emr-seed/patients.jsonl is not JSON Lines") from None
    raise OneLineError(f"--patient {patient_id}: {scenario}의 환자가 아닙니다 (emr-seed/patients.jsonl의 patient_id)",
                       f"--patient {patient_id}: no such patient in {scenario} (a patient_id of "
                       "emr-seed/patients.jsonl)")


def _instant(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        example = "2026-12-06T11:50:00+09:00"
        raise OneLineError(f"--sent-at {value!r}: 시간대가 있는 ISO 8601 시각이어야 합니다 (예: {example})",
                           f"--sent-at {value!r}: must be an ISO 8601 time with a zone (e.g. {example})")
    return moment


@click.command("body", cls=OneLineCommand)
@click.argument("request", type=InputFile("json"))
@click.option("--scenario", type=InputFolder(), metavar="DIR",
              help="The scenario the run used: the patient is taken from its emr-seed/patients.jsonl.")
@click.option("--patient", "patient_id", metavar="ID",
              help=f"The patient's scenario id (patient_id); {STRANGER_ID} is the suite's made-up unknown patient.")
@click.option("--sent-at", metavar="TIME",
              help="When the request was sent: the consent's times move by the time since, so it stays as valid "
                   "(or as expired) as it was.")
def body(request: Loaded, scenario: Path | None, patient_id: str | None, sent_at: str | None) -> None:
    """재현 명령의 요청 본문을 다시 만듭니다 / rebuild the request body of a reproduction line.

    Reports keep each request body masked in requests/<exchange-id>.json (no person in a report). This prints
    the body as it must be sent again, for `curl --data-binary @-`: the patient's name, birth date and identity
    token filled in from your scenario by the patient's scenario id, a fresh request_id (a connector that
    stores request ids would otherwise answer from its store), and the consent moved to now.
    """
    masked = request.value
    if not isinstance(masked, dict):
        where = request.path
        raise OneLineError(f"REQUEST {where}: JSON 객체가 아닙니다 (그대로 보내십시오: curl --data-binary @{where})",
                           f"REQUEST {where}: not a JSON object (send it as it is: curl --data-binary @{where})")
    patient = _patient(scenario, patient_id) if patient_id is not None else None
    rebuilt = rebuild(masked, patient=patient, sent_at=_instant(sent_at), now=dt.datetime.now(dt.UTC),
                      request_id=fresh_request_id())
    sys.stdout.write(json.dumps(rebuilt, ensure_ascii=False))
    sys.stdout.flush()
