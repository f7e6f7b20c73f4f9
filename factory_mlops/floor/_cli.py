"""`factory-mlops feedback serve` and `factory-mlops feedback user ...`: the shop-floor page and its people.

    factory-mlops feedback serve [--host 127.0.0.1] [--port 8765] [--secure-cookies] [--home H] [--plants DIR]
    factory-mlops feedback user add NAME --plant P --role operator|engineer [--password-stdin]
    factory-mlops feedback user grant NAME --plant P --role operator|engineer
    factory-mlops feedback user revoke NAME --plant P
    factory-mlops feedback user passwd NAME [--password-stdin]
    factory-mlops feedback user remove NAME
    factory-mlops feedback user list [--plant P]

Passwords are asked at the terminal (twice) or read from the first line of stdin with
`--password-stdin`; they are never taken from the command line, where `ps` and shell history
would keep them. `feedback serve` and `feedback user` are routed here by `factory_mlops.cli` (a
plant cannot be called `serve` or `user`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from factory_mlops.clikit import HOME_HELP, fail
from factory_mlops.floor._users import ROLES

SUBCOMMANDS = ("serve", "user")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory-mlops feedback", description="The shop-floor feedback page and its users."
    )
    sub = parser.add_subparsers(dest="what", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve the shop-floor feedback page (ASGI, uvicorn)",
        description="Serve the page where technicians judge edge predictions. People log in "
        "with a user made by `factory-mlops feedback user add`.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for tablets on the plant network, "
        "behind a TLS proxy)",
    )
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument(
        "--secure-cookies",
        action="store_true",
        help="send the login cookie over HTTPS only (set when a TLS proxy is in front)",
    )
    serve.add_argument("--home", default=None, help=HOME_HELP)
    serve.add_argument(
        "--plants", default=None, help="folder of plant folders (default: ./plants or packaged)"
    )
    serve.set_defaults(func=_serve)

    user = sub.add_parser("user", help="manage the people who may use the page")
    actions = user.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create a person with a role in one plant")
    add.add_argument("name")
    add.add_argument("--plant", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    grant = actions.add_parser("grant", help="give a person a role in (another) plant")
    grant.add_argument("name")
    grant.add_argument("--plant", required=True)
    grant.add_argument("--role", required=True, choices=ROLES)
    revoke = actions.add_parser("revoke", help="take a person's access to a plant away")
    revoke.add_argument("name")
    revoke.add_argument("--plant", required=True)
    passwd = actions.add_parser("passwd", help="set a new password (ends the person's logins)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    remove = actions.add_parser("remove", help="delete a person (their verdicts stay)")
    remove.add_argument("name")
    lst = actions.add_parser("list", help="people and their roles")
    lst.add_argument("--plant", default=None)
    for p in (add, grant, revoke, passwd, remove, lst):
        p.add_argument("--home", default=None, help=HOME_HELP)
        p.set_defaults(func=_user)
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError(
            "no terminal to ask for the password: pass --password-stdin and pipe it in"
        )
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ; nothing was changed")
    return first


def _user(args: argparse.Namespace) -> int:
    from factory_mlops.feedback import FeedbackStore
    from factory_mlops.floor._users import UserError, UserStore
    from factory_mlops.home import FactoryHome

    home = FactoryHome.resolve(args.home)
    if not home.root.is_dir():
        return fail(f"no factory home at {home.root}: pass --home DIR or set $FACTORY_MLOPS_HOME")
    store = FeedbackStore.for_home(home)
    users = UserStore(store.engine)
    try:
        if args.action == "add":
            users.add_user(
                args.name, _read_password(args.password_stdin), plant_id=args.plant, role=args.role
            )
            print(f"added {args.name}: {args.role} of {args.plant}")
        elif args.action == "grant":
            users.grant(args.name, plant_id=args.plant, role=args.role)
            print(f"{args.name}: {args.role} of {args.plant}")
        elif args.action == "revoke":
            had = users.revoke(args.name, plant_id=args.plant)
            print(f"{args.name}: no access to {args.plant}" + ("" if had else " (had none)"))
        elif args.action == "passwd":
            users.set_password(args.name, _read_password(args.password_stdin))
            print(f"{args.name}: password changed, logins ended")
        elif args.action == "remove":
            if not users.remove_user(args.name):
                return fail(f"no user {args.name!r}")
            print(f"removed {args.name} (their verdicts stay)")
        else:
            rows = users.users(args.plant)
            for name, plant, role in rows:
                print(f"{name}\t{plant}\t{role}")
            if not rows:
                print(
                    "no users yet: factory-mlops feedback user add NAME --plant P --role operator"
                )
    except (UserError, ValueError) as exc:
        return fail(str(exc))
    finally:
        store.close()
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.floor._app import FloorSettings, create_app
    from factory_mlops.home import FactoryHome

    try:
        app = create_app(
            FactoryHome.resolve(args.home),
            plants_dir=args.plants,
            settings=FloorSettings(secure_cookies=args.secure_cookies),
        )
    except FactoryMLOpsError as exc:
        return fail(str(exc))
    floor = app.state.floor
    if floor.users.count() == 0:
        sys.stderr.write(
            "note: no users yet; add one with `factory-mlops feedback user add NAME --plant P "
            "--role operator` (the page refuses every login until then)\n"
        )
    plants = floor.warm_up()
    sys.stderr.write(f"plants with edge predictions: {', '.join(plants) or 'none yet'}\n")
    sys.stderr.write(
        f"shop-floor feedback page on http://{args.host}:{args.port}/ (store {floor.store.safe_url})\n"
    )
    # tablets keep their connection between verdicts: 75 s keep-alive (uvicorn's 5 s drops it mid-shift)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        proxy_headers=args.secure_cookies,
        timeout_keep_alive=75,
    )
    return 0


def main(argv: Sequence[str]) -> int:
    """Run `feedback serve ...` / `feedback user ...` (argv starts after `feedback`)."""
    args = _parser().parse_args(list(argv))
    return int(args.func(args))
