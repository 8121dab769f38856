"""`python -m dvcqg_sim --port 8191`: the national-portal simulator on a port of its own."""

from __future__ import annotations

import argparse

import uvicorn

from dvcqg_sim.portal import Account, build_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="dvcqg_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8191)
    parser.add_argument("--username", default=Account.username)
    parser.add_argument("--password", default=Account.password)
    parser.add_argument("--unit-code", default=Account.unit_code)
    parser.add_argument("--session-ttl", type=float, default=Account.session_ttl, help="seconds a session lives")
    args = parser.parse_args()
    account = Account(args.username, args.password, args.unit_code, args.session_ttl)
    uvicorn.run(build_app(account), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
