"""Administration of the gateway's credentials.

    python -m gateway.tools.cli create-key --client portal --role portal [--scope dossiers:read ...] [--unit ID]
    python -m gateway.tools.cli rotate-key --client portal [--grace-hours 24]
    python -m gateway.tools.cli revoke-key (--prefix PREFIX | --client CLIENT)
    python -m gateway.tools.cli list-keys
    python -m gateway.tools.cli create-staff --username u --role desk_officer --unit 000.00.31.H57 [--password P]
    python -m gateway.tools.cli set-password --username u [--password P]      (ends the account's sessions)
    python -m gateway.tools.cli deactivate-staff --username u                  (refuses its logins, ends its sessions)
    python -m gateway.tools.cli reactivate-staff --username u
    python -m gateway.tools.cli demo          (idempotent: demo credentials of every client type, printed)

The database is GATEWAY_DATABASE_URL; it must be migrated (``alembic -c gateway/alembic.ini upgrade head``),
except for ``demo``, which migrates it first. Keys and generated passwords are printed once and never stored.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import secrets
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from gateway.auth import (
    DEFAULT_SCOPES,
    create_api_key,
    create_staff,
    revoke_api_keys,
    rotate_api_key,
    set_active,
    set_password,
)
from gateway.models import ApiKey, StaffAccount
from gateway.settings import Settings
from services import migrations
from services.db import Database
from services.identity import Role

GATEWAY_DIR = Path(__file__).resolve().parents[2]

#: (username, role, unit, full name) of the demo staff: the city centre's desk, a ward's desk, a ward specialist, the
#: city's leader, an admin, and a specialist at every department on the routes of the demo procedures
#: (catalogue-svc/data/demo-procedures.json, LIENTHONG; tests/gateway checks that none is missing), so that a
#: dossier can be walked along its whole route with these accounts (README, "A walk through the system").
DEMO_STAFF = [
    ("demo.desk", Role.DESK_OFFICER, "000.00.31.H57", "Cán bộ một cửa thành phố (demo)"),
    ("demo.ward.desk", Role.DESK_OFFICER, "000.01.31.H57", "Cán bộ một cửa phường (demo)"),
    ("demo.specialist", Role.SPECIALIST, "000.20.31.H57", "Chuyên viên phường (demo)"),
    ("demo.leader", Role.LEADER, "000.00.31.H57", "Lãnh đạo (demo)"),
    ("demo.admin", Role.ADMIN, None, "Quản trị (demo)"),
    ("demo.city.justice", Role.SPECIALIST, "001.00.31.H57", "Chuyên viên Phòng Tư pháp thành phố (demo)"),
    ("demo.province.justice", Role.SPECIALIST, "001.00.00.H57", "Chuyên viên Sở Tư pháp (demo)"),
    ("demo.city.environment", Role.SPECIALIST, "002.00.31.H57", "Chuyên viên Phòng TN&MT thành phố (demo)"),
    ("demo.province.environment", Role.SPECIALIST, "002.00.00.H57", "Chuyên viên Sở TN&MT (demo)"),
    ("demo.city.construction", Role.SPECIALIST, "003.00.31.H57", "Chuyên viên Phòng Quản lý đô thị (demo)"),
    ("demo.province.construction", Role.SPECIALIST, "003.00.00.H57", "Chuyên viên Sở Xây dựng (demo)"),
    ("demo.city.labour", Role.SPECIALIST, "006.00.31.H57", "Chuyên viên Phòng LĐ-TB&XH thành phố (demo)"),
    ("demo.province.labour", Role.SPECIALIST, "006.00.00.H57", "Chuyên viên Sở LĐ-TB&XH (demo)"),
]
#: Payment providers need no key of ours (their callbacks are signed): the portal is the only demo system client.
DEMO_KEYS = [("demo-portal", Role.PORTAL)]


def _derived(settings: Settings, label: str, length: int = 32) -> str:
    """Stable per deployment (derived from the gateway's secret), so `demo` prints the same values every time."""
    digest = hmac.new(settings.jwt_secret.get_secret_value().encode(), f"demo:{label}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")[:length]


async def _demo(db: Database, settings: Settings) -> list[str]:
    lines = ["Demo credentials (for a laptop only; derived from GATEWAY_JWT_SECRET):"]
    async with db.sessionmaker() as session:
        for client, role in DEMO_KEYS:
            prefix = client.replace("-", "")[:16]
            secret = _derived(settings, client, 43)
            existing = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()
            if existing is not None:
                await session.delete(existing)
                await session.flush()
            key = await create_api_key(session, settings, client=client, role=role, prefix=prefix, secret=secret)
            lines.append(f"  {role.value:<13} API key   X-API-Key: {key}")
        for username, role, unit, name in DEMO_STAFF:
            password = _derived(settings, username, 16)
            account = (
                await session.execute(select(StaffAccount).where(StaffAccount.username == username))
            ).scalar_one_or_none()
            if account is None:
                await create_staff(session, username=username, password=password, role=role, unit=unit, full_name=name)
            else:
                await set_password(session, account, password)
                await set_active(session, account, True)
                account.role, account.unit = role.value, unit
            lines.append(f"  {role.value:<13} staff     {username} / {password}  (unit {unit or '-'})")
        await session.commit()
    lines.append("  staff log in with POST /api/v1/auth/token {\"username\": …, \"password\": …}")
    return lines


async def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.command == "demo":
        await asyncio.to_thread(migrations.upgrade, GATEWAY_DIR, settings.database_url)
    db = Database(settings.database_url, service="gateway-cli")
    try:
        if args.command == "demo":
            print("\n".join(await _demo(db, settings)))
            return 0
        async with db.sessionmaker() as session:
            if args.command == "create-key":
                role = Role(args.role)
                key = await create_api_key(session, settings, client=args.client, role=role,
                                           scopes=args.scope or list(DEFAULT_SCOPES.get(role, ())), unit=args.unit)
                print(key)
            elif args.command == "rotate-key":
                key = await rotate_api_key(session, settings, client=args.client,
                                           grace=timedelta(hours=args.grace_hours))
                print(key)
                print(f"the previous keys of {args.client} stop working in {args.grace_hours} h", file=sys.stderr)
            elif args.command == "revoke-key":
                count = await revoke_api_keys(session, prefix=args.prefix, client=args.client)
                print(f"revoked {count} key(s)")
            elif args.command == "list-keys":
                for k in (await session.execute(select(ApiKey).order_by(ApiKey.client, ApiKey.id))).scalars():
                    state = "revoked" if k.revoked_at else (f"expires {k.expires_at:%Y-%m-%d %H:%M}" if k.expires_at
                                                            else "active")
                    print(f"{k.client:<20} {k.prefix:<16} {k.role:<12} {state:<24} {' '.join(k.scopes)}")
            elif args.command == "create-staff":
                password = args.password or secrets.token_urlsafe(12)
                await create_staff(session, username=args.username, password=password, role=Role(args.role),
                                   unit=args.unit, full_name=args.name)
                print(f"{args.username} / {password}" if not args.password else f"created {args.username}")
            elif args.command in ("set-password", "deactivate-staff", "reactivate-staff"):
                account = (
                    await session.execute(select(StaffAccount).where(StaffAccount.username == args.username))
                ).scalar_one_or_none()
                if account is None:
                    print(f"no account {args.username}", file=sys.stderr)
                    return 1
                if args.command == "set-password":
                    password = args.password or secrets.token_urlsafe(12)
                    await set_password(session, account, password)
                    print(f"{args.username} / {password}" if not args.password else f"updated {args.username}")
                else:
                    await set_active(session, account, args.command == "reactivate-staff")
                    print(f"{args.command.removesuffix('-staff')}d {args.username}")
            await session.commit()
        return 0
    except (ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway.tools.cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create-key", help="a new API key for a system client")
    c.add_argument("--client", required=True)
    c.add_argument("--role", required=True, choices=[r.value for r in DEFAULT_SCOPES])
    c.add_argument("--scope", action="append", help="e.g. catalogue:read; repeat; default: the role's scopes")
    c.add_argument("--unit")
    r = sub.add_parser("rotate-key", help="a new key for a client; its other keys expire after the grace period")
    r.add_argument("--client", required=True)
    r.add_argument("--grace-hours", type=float, default=24.0)
    v = sub.add_parser("revoke-key", help="revoke one key (by prefix) or every key of a client, at once")
    g = v.add_mutually_exclusive_group(required=True)
    g.add_argument("--prefix")
    g.add_argument("--client")
    sub.add_parser("list-keys")
    s = sub.add_parser("create-staff")
    s.add_argument("--username", required=True)
    s.add_argument("--role", required=True, choices=["desk_officer", "specialist", "leader", "admin"])
    s.add_argument("--unit", help="agency id, e.g. 000.00.31.H57 (required except for admin)")
    s.add_argument("--name")
    s.add_argument("--password", help="default: a generated one, printed")
    w = sub.add_parser("set-password", help="a new password; the account's sessions end")
    w.add_argument("--username", required=True)
    w.add_argument("--password")
    for command, about in (("deactivate-staff", "refuse the account's logins and end its sessions"),
                           ("reactivate-staff", "allow the account's logins again")):
        a = sub.add_parser(command, help=about)
        a.add_argument("--username", required=True)
    sub.add_parser("demo", help="create (idempotently) and print demo credentials for every client type")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
