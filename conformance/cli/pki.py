"""``s24kit pki``: the kit's test certificates for a vendor's connector — show them, issue a server certificate
for the vendor's own test host, export what the connector's server needs (PEM and PKCS#12).

The PKI lives in ``--state``/pki (default ``.s24kit/pki``, the folder ``s24kit check`` and ``serve`` use) and is
created on first use. Every certificate is for tests only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ...simulator.pki_names import DEFAULT_PASSWORD, ISSUED, KEY_TYPES
from .params import OutputFolder
from .usage import OneLineError, OneLineGroup, wide_console

# The certificates themselves are read inside the commands: `s24kit pki --help` loads no cryptography.
if TYPE_CHECKING:
    from ...simulator.pki import TestPKI
    from ...simulator.pki_files import CertificateFacts

LANGS = click.Choice(["ko", "en"])
STATE_HELP = "Kit state directory; the PKI is its pki/ folder (created on first use)."
#: What each kind of certificate is for, as the table says it.
PURPOSE = {
    "ca": ("루트 CA: 연계 모듈이 중계기관 클라이언트 인증서를 검증할 때 신뢰",
           "root CA: your connector trusts it to verify the relay's client certificate"),
    "intermediate": ("중간 CA: 모든 인증서에 체인으로 포함", "intermediate CA: sent in every chain"),
    "relay-client": ("중계기관 클라이언트 인증서 (시험이 연계 모듈을 호출할 때 제시)", "the relay's client certificate "
                     "(the suite presents it when it calls your connector)"),
    "provider-agent": ("에이전트 방식 연계 모듈의 클라이언트 인증서", "client certificate of an agent-mode connector"),
    "provider-server": ("키트 기본 서버 인증서 (localhost, 127.0.0.1, ::1)", "the kit's default server certificate "
                        "(localhost, 127.0.0.1, ::1)"),
    "issued": ("발급한 서버 인증서", "server certificate issued for your host"),
}


def _open(state: Path) -> TestPKI:
    from ...simulator.pki import PkiError, ensure_pki

    try:
        pki = ensure_pki(state / "pki")
    except PkiError as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    if pki.new_root:
        click.echo(f"알림: {pki.directory} 에 새 시험 PKI(CA)를 만들었습니다 / notice: created a new test PKI (CA) in "
                   f"{pki.directory}", err=True)
    return pki


@click.group("pki", cls=OneLineGroup)
def pki() -> None:
    """시험용 인증서: 보기, 서버 인증서 발급, 내보내기 / the kit's test certificates: show, issue, export."""


@pki.command("show")
@click.option("--state", default=Path(".s24kit"), show_default=True, type=OutputFolder(), metavar="DIR",
              help=STATE_HELP)
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of the table.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table for people or JSON for scripts.")
def show(state: Path, lang: str, fmt: str) -> None:
    """CA, 중계기관 클라이언트 인증서, 발급한 인증서의 경로·지문·만료 / the CA, the relay's client certificate and every
    issued certificate with paths, SHA-256 fingerprints and expiry."""
    from ...simulator.pki_files import inventory

    facts = inventory(_open(state))
    if fmt == "json":
        json.dump([fact.as_json() for fact in facts], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    _table(facts, lang)


def _table(facts: list[CertificateFacts], lang: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    ko = lang == "ko"
    console = wide_console()
    table = Table(title="시험 PKI" if ko else "Test PKI", show_lines=True)
    for header in (("이름", "name"), ("용도", "purpose"), ("파일", "files"), ("SHA-256", "SHA-256"),
                   ("만료 (UTC)", "expires (UTC)"), ("호스트·키", "hosts, key")):
        table.add_column(header[0] if ko else header[1], overflow="fold")
    for fact in facts:
        purpose = PURPOSE["issued" if fact.issued else fact.name][0 if ko else 1]
        if not fact.current:
            purpose += (" — 현재 CA가 발급하지 않음: 다시 발급하십시오" if ko
                        else " — not issued by the current CA: issue it again")
        files = str(fact.path.resolve()) + (f"\n{fact.key.resolve()}" if fact.key else "")
        hosts = ", ".join(fact.hosts)
        table.add_row(escape(fact.name), escape(purpose), escape(files), fact.sha256,
                      fact.not_after.strftime("%Y-%m-%d %H:%M"), escape(f"{hosts}\n{fact.key_type}".strip()))
    console.print(table)
    console.print("SHA-256: 인증서(DER)의 지문, openssl x509 -noout -fingerprint -sha256 과 같음 (콜론 없이)" if ko else
                  "SHA-256: fingerprint of the certificate's DER, as openssl x509 -noout -fingerprint -sha256 prints "
                  "it (without colons)", highlight=False)


@pki.command("issue")
@click.argument("hosts", nargs=-1, required=True, metavar="HOST...")
@click.option("--name", metavar="NAME", help="File name under pki/issued/ [default: the first HOST].")
@click.option("--key-type", "key_type", type=click.Choice(KEY_TYPES), default="ec", show_default=True,
              help="EC P-256, or RSA 2048 (as many real certificates are).")
@click.option("--state", default=Path(".s24kit"), show_default=True, type=OutputFolder(), metavar="DIR",
              help=STATE_HELP)
def issue(hosts: tuple[str, ...], name: str | None, key_type: str, state: Path) -> None:
    """연계 모듈 시험 서버용 서버 인증서 발급 (DNS 이름과 IP 주소) / issue a server certificate for your connector's
    test host, for the DNS names and IP addresses given (e.g. clinic-test.lan 192.168.0.10)."""
    from ...simulator.pki import general_names, issue_server, issued_name

    for host in hosts:
        if not host or any(c.isspace() or c in "/\\@" for c in host):
            raise OneLineError(f"HOST {host!r}: DNS 이름 또는 IP 주소여야 합니다 (예: clinic-test.lan, 192.168.0.10)",
                               f"HOST {host!r}: must be a DNS name or an IP address (e.g. clinic-test.lan, "
                               "192.168.0.10)")
    try:
        general_names(hosts)
        chosen = issued_name(hosts, name)
    except ValueError:
        raise OneLineError(f"--name {name or hosts[0]!r}: 영문자·숫자·. - _ 1~63자로 지정하십시오 (키트 자체 인증서 "
                           "이름은 쓸 수 없음)", f"--name {name or hosts[0]!r}: use 1 to 63 letters, digits, . - _ "
                           "(not the name of one of the kit's own certificates)") from None
    kit = _open(state)
    chosen, cred = issue_server(kit, hosts, name=chosen, key_type=key_type)
    click.echo(f"발급 / issued: {chosen} ({', '.join(hosts)}, {key_type.upper()})")
    click.echo(f"  인증서 체인 / certificate chain: {cred.cert.resolve()}")
    click.echo(f"  개인 키 / private key: {cred.key.resolve()}")
    click.echo(f"  SHA-256: {cred.sha256()}")
    click.echo(f"내보내기 / export: s24kit pki export --server {chosen} --out certs/")


@pki.command("export")
@click.option("--out", required=True, type=OutputFolder(), metavar="DIR", help="Folder to write the files into.")
@click.option("--server", "server_name", default="provider-server", show_default=True, metavar="NAME",
              help="Server certificate to export: provider-server (the kit's, for loopback) or a name from "
                   "`s24kit pki issue`.")
@click.option("--agent", is_flag=True, help="Also the agent's client certificate (agent mode).")
@click.option("--password", default=DEFAULT_PASSWORD, show_default=True, envvar="S24KIT_P12_PASSWORD",
              metavar="TEXT", help="Password of the PKCS#12 files (env S24KIT_P12_PASSWORD).")
@click.option("--state", default=Path(".s24kit"), show_default=True, type=OutputFolder(), metavar="DIR",
              help=STATE_HELP)
def export_command(out: Path, server_name: str, agent: bool, password: str, state: Path) -> None:
    """연계 모듈 서버에 필요한 파일 내보내기 (PEM, PKCS#12) / export what your connector's server needs: the CA
    that verifies the relay's client certificate, the server certificate chain and key (PEM and PKCS#12)."""
    from ...simulator.pki_files import export

    if not password:
        raise OneLineError("--password: 비어 있으면 안 됩니다 (Java와 .NET은 암호 있는 PKCS#12를 씁니다)",
                           "--password: must not be empty (Java and .NET expect a password-protected PKCS#12)")
    issued = {pem.stem for pem in (state / "pki" / ISSUED).glob("*.pem")}
    if server_name != "provider-server" and server_name not in issued:
        known = ", ".join(["provider-server", *sorted(issued)])
        raise OneLineError(f"--server {server_name!r}: 없는 인증서입니다 ({known} 중 하나, 또는 s24kit pki issue로 "
                           "발급)", f"--server {server_name!r}: no such certificate (one of {known}, or issue one "
                           "with s24kit pki issue)")
    kit = _open(state)
    server = kit["provider-server"] if server_name == "provider-server" else kit.issued()[server_name]
    try:
        written = export(kit, out, server=server, agent=agent, password=password)
    except OSError as exc:
        raise OneLineError(f"--out {out}: 쓸 수 없습니다 ({exc.strerror})",
                           f"--out {out}: cannot write ({exc.strerror})") from None
    for role, path in written.items():
        ko, en = _WHAT[role]
        click.echo(f"{path.resolve()}  {ko} / {en}")
    click.echo(f"PKCS#12 암호 / password: {password if password == DEFAULT_PASSWORD else '(--password)'}")


_WHAT = {
    "ca": ("중계기관 클라이언트 인증서를 검증할 CA (클라이언트 인증 필수로 설정)",
           "CA to verify the relay's client certificate with (require client certificates)"),
    "server_chain": ("서버 인증서 + 중간 CA (PEM)", "server certificate + intermediate (PEM)"),
    "server_key": ("서버 개인 키 (PEM, PKCS#8)", "server private key (PEM, PKCS#8)"),
    "server_p12": ("서버 키·인증서·중간 CA (PKCS#12, 별칭 server: Java keystore, .NET)",
                   "server key, certificate and intermediate (PKCS#12, alias server: Java keystore, .NET)"),
    "truststore_p12": ("CA 트러스트스토어 (PKCS#12, Java truststore)", "the CA as a trust store (PKCS#12, Java)"),
    "agent_chain": ("에이전트 클라이언트 인증서 + 중간 CA (PEM)", "agent client certificate + intermediate (PEM)"),
    "agent_key": ("에이전트 개인 키 (PEM)", "agent private key (PEM)"),
    "agent_p12": ("에이전트 키·인증서 (PKCS#12, 별칭 agent)", "agent key and certificate (PKCS#12, alias agent)"),
}
