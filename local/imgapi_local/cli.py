"""The `imgapi` command: run the worker's pipelines on local files, manage users and API keys, log out everywhere,
change your password, run the local stack."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path


def _cmd_process(args: argparse.Namespace) -> int:
    from imgapi.engine.compose import run_change_bg
    from imgapi.engine.enhance_levels import LEVELS
    from imgapi.core.errors import ApiError, JobFailure
    from imgapi.engine.outpaint import run_expand
    from imgapi.engine.pipeline import run_combo, run_fix, run_remove_bg
    from imgapi.jobs.removal_configs import parse_config
    from imgapi.core.settings import get_settings

    settings = get_settings()
    try:
        config = parse_config({"model": args.model} if args.model else {})
        data = Path(args.input).read_bytes()
        if args.operation == "combo":
            if args.enhance_level not in LEVELS:
                raise JobFailure(f"--enhance-level must be one of {', '.join(LEVELS)}")
            output = run_combo(data, args.enhance_level, config, max_edge=settings.max_output_edge)
        elif args.operation == "remove_bg":
            output = run_remove_bg(data, config)
        elif args.operation == "change_bg":
            if not args.ref:
                raise JobFailure("change_bg needs --ref: the image to put behind the subject")
            output = run_change_bg(data, Path(args.ref).read_bytes(), model=config.model)
        elif args.operation == "expand":
            scales = {"top": args.top, "bottom": args.bottom, "left": args.left, "right": args.right}
            output = run_expand(data, scales, max_pixels=settings.max_input_pixels, model=settings.expand_model)
        else:
            output = run_fix(data, args.factor, max_edge=settings.max_output_edge, sr_model=settings.fix_sr_model)
    except (JobFailure, ApiError) as exc:
        print(f"imgapi: {getattr(exc, 'reason', None) or getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"imgapi: {exc}", file=sys.stderr)
        return 1
    Path(args.output).write_bytes(output.data)
    made_by = "".join(f", {name}" for name in (output.enhancer, output.expander) if name)  # as the job view says
    print(f"{args.output}: {output.width}x{output.height} {output.content_type}, {len(output.data)} bytes{made_by}")
    return 0


def _users_table_from_stack(stack: str) -> str:
    import boto3

    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "UsersTableName":
            return output["OutputValue"]
    raise SystemExit(f"imgapi: stack {stack} has no UsersTableName output")


def _local_stack_state() -> dict:
    import json

    from .devserver import STATE_FILE
    from .template import ROOT

    try:
        # IMGAPI_DEV_STATE_FILE: another stack's state (the tests run one on free ports).
        return json.loads(Path(os.environ.get("IMGAPI_DEV_STATE_FILE") or ROOT / STATE_FILE).read_text())
    except FileNotFoundError:
        raise SystemExit("imgapi: no local stack is running (start it with `make dev`)") from None


def _cmd_users(args: argparse.Namespace) -> int:
    if args.local:
        state = _local_stack_state()
        os.environ.update({"AWS_ENDPOINT_URL": state["aws_url"], "USERS_TABLE": state["users_table"],
                           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if args.stack:
        os.environ["USERS_TABLE"] = _users_table_from_stack(args.stack)
    elif args.table:
        os.environ["USERS_TABLE"] = args.table
    if not os.environ.get("USERS_TABLE"):
        print("imgapi: say which users table: --stack NAME (a deployed stack), --table NAME, or USERS_TABLE", file=sys.stderr)
        return 2
    from imgapi.auth import users
    from imgapi.core.errors import ApiError
    from imgapi.core.settings import get_settings

    get_settings.cache_clear()  # the table was chosen just above
    try:
        if args.action == "add":
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass(f"password for {args.username}: ")
            users.create_user(args.username, password)
            print(f"user {args.username} created")
        elif args.action == "remove":
            users.delete_user(args.username)
            print(f"user {args.username} removed")
        else:
            for name in users.list_usernames():
                print(name)
    except ApiError as exc:
        print(f"imgapi: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    """API keys over HTTP, as the logged-in user (`imgapi client login`, or IMGAPI_TOKEN)."""
    from .client import Api, Failure, Http, saved_login

    try:
        url, token = saved_login(args.url)
        api = Api(url, token, Http(attempts=args.retries))
        if args.keys_command == "create":
            created = api.call("POST", "/api/v1/api-keys", json={"name": args.name})
            print(created["key"])  # alone on stdout: KEY=$(imgapi keys create NAME)
            print(f"API key {created['name']!r} (id {created['id']}) created; it is shown only now: keep it. "
                  f"Send it as 'X-Api-Key: <key>'.", file=sys.stderr)
        elif args.keys_command == "list":
            keys = api.call("GET", "/api/v1/api-keys")["keys"]
            print(f"{'ID':<36}  {'PREFIX':<13}  {'CREATED':<24}  {'LAST USED':<24}  NAME")
            for key in keys:
                print(f"{key['id']:<36}  {key['prefix']:<13}  {key['created_at']:<24}  "
                      f"{key['last_used_at'] or 'never':<24}  {key['name']}")
        else:
            api.call("DELETE", f"/api/v1/api-keys/{args.id}")
            print(f"API key {args.id} revoked")
    except Failure as failure:
        print(f"imgapi keys: {failure.message}", file=sys.stderr)
        return 2
    return 0


def _cmd_logout(args: argparse.Namespace) -> int:
    """Forget the saved token; --everywhere: first revoke every token of the user (POST /api/v1/auth/logout-all)."""
    from .client import Api, Http, api_url, forget_login, saved_login

    if args.everywhere:
        url, token = saved_login(args.url)
        Api(url, token, Http(attempts=args.retries)).call("POST", "/api/v1/auth/logout-all")
        forget_login(url)
        print(f"logged out of {url} everywhere: every token issued so far is refused; API keys still work "
              "(`imgapi keys revoke`)")
    else:
        url = api_url(args.url)
        forget_login(url)
        print(f"logged out of {url} on this machine (the token itself stays valid until it expires; "
              "`imgapi logout --everywhere` revokes every token)")
    return 0


def _cmd_password(args: argparse.Namespace) -> int:
    """A new password (POST /api/v1/auth/password): every earlier token is revoked, so log in again with it."""
    from .client import Failure, Http, error_of, login, save_login, saved_login, saved_username

    url, token = saved_login(args.url)
    if args.password_stdin:  # two lines: the current password, then the new one
        current, new = sys.stdin.readline().rstrip("\n"), sys.stdin.readline().rstrip("\n")
    else:
        current, new = getpass.getpass("current password: "), getpass.getpass("new password: ")
        if getpass.getpass("new password again: ") != new:
            raise Failure("the new passwords differ; nothing was changed")
    # One attempt: a wrong password counts towards the lock-out, and 429 means wait minutes, not retry. Not Api.call:
    # its 401 says "log in again", and here a 401 is the current password being wrong.
    response = Http(attempts=1).request("POST", f"{url}/api/v1/auth/password",
                                        headers={"Authorization": f"Bearer {token}"},
                                        json={"current_password": current, "new_password": new})
    if response.status_code != 204:
        raise Failure(f"{error_of(response)} (HTTP {response.status_code})")
    username = saved_username(url)
    if username is None:  # IMGAPI_TOKEN, no saved login: nothing to log in as
        print(f"password changed; every earlier token is refused: log in again (`imgapi client login --url {url}`)")
        return 0
    answer = login(url, username, new, Http(attempts=args.retries))
    save_login(url, username, answer["access_token"], int(answer.get("expires_in", 3600)))
    print(f"password changed for {username}; every earlier token is refused, and you are logged in again")
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from .devserver import serve

    return serve(port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgapi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    process = commands.add_parser("process", help="run a pipeline on a local file, exactly as the image worker does")
    process.add_argument("operation", choices=["combo", "remove_bg", "change_bg", "expand", "fix"])
    process.add_argument("input", help="input image file (change_bg: the image whose subject is kept)")
    process.add_argument("-o", "--output", required=True, help="where to write the PNG result")
    process.add_argument("--enhance-level", default="medium", help="combo only: light | medium | strong")
    process.add_argument("--model", help="rembg model (default: DEFAULT_REMBG_MODEL or u2net)")
    process.add_argument("--ref", help="change_bg only: the new background image (scaled to cover, centred)")
    for side in ("top", "bottom", "left", "right"):
        process.add_argument(f"--{side}", type=float, default=1.5,
                             help=f"expand only: {side}_scale, 1.0-2.0 (default 1.5, as the API's)")
    process.add_argument("--factor", type=int, default=1, choices=[1, 2, 3, 4],
                         help="fix only: upscale_factor, 1 = sharpen without enlarging (default 1, as the API's)")
    process.set_defaults(func=_cmd_process)

    users = commands.add_parser("users", help="create, remove and list users (deployed stack or local)")
    users.add_argument("action", choices=["add", "remove", "list"])
    users.add_argument("username", nargs="?")
    where = users.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack's name (its UsersTableName output is used)")
    where.add_argument("--table", help="the users table's name")
    where.add_argument("--local", action="store_true", help="the local stack that `make dev` runs")
    users.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's http://127.0.0.1:PORT")
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.set_defaults(func=_cmd_users)

    from .client import add_parser as add_client_parser

    add_client_parser(commands)  # imgapi client login / run: the API over HTTP

    keys = commands.add_parser("keys", help="create, list and revoke your API keys (as the user of `imgapi client login`)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="a new key, printed once on standard output")
    create.add_argument("name", help="a name to recognise the key by, e.g. where it is used")
    keys_sub.add_parser("list", help="your keys: id, prefix, when created and last used, name (never the keys)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id", help="the key's id, as `keys list` shows it")
    for sub in keys_sub.choices.values():
        sub.add_argument("--url", help="the API's base URL (default: the one logged in to last)")
        sub.add_argument("--retries", type=int, default=5, help=argparse.SUPPRESS)
    keys.set_defaults(func=_cmd_keys)

    logout = commands.add_parser("logout", help="forget the saved token; --everywhere revokes every token of yours")
    logout.add_argument("--everywhere", action="store_true",
                        help="revoke every token issued so far for your user, on every machine (API keys stay valid)")
    password = commands.add_parser("password", help="change your password (every earlier token is revoked)")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the current password, then the new one, one a line, from standard input")
    from .client import guarded

    for sub, func in ((logout, _cmd_logout), (password, _cmd_password)):
        sub.add_argument("--url", help="the API's base URL (default: the one logged in to last)")
        sub.add_argument("--retries", type=int, default=5, help=argparse.SUPPRESS)
        sub.set_defaults(func=guarded(func, f"imgapi {sub.prog.split()[-1]}"))

    dev = commands.add_parser("dev", help="serve the whole API on localhost over an in-process AWS")
    dev.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    dev.set_defaults(func=_cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "action", None) in ("add", "remove") and not args.username:
        print("imgapi: users add/remove need a username", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
