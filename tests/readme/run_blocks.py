"""Runs every code block of README.md and of the generated packages' READMEs, so
that none can rot.

    .venv/bin/python tests/readme/run_blocks.py [--only TEXT]

README.md: each block has a rule below saying how it runs. Shell blocks run as
written from the repository root; where a block would run for minutes (a
benchmark, the soak, the fuzzer) or write outside the checkout, the rule swaps a
named part of the command (each swap must match exactly once, so a changed block
is noticed). A server line runs in the background until its socket appears,
the block's other lines run against it, and it must stop cleanly on SIGINT. The
YAML schema is validated with acton-gen; the Rust programs are the binaries of
examples/readme, whose build.rs takes them from README.md. The project that
`acton-gen new` writes has a README too: its blocks run in the new project.

generated/python/README.md and generated/typescript/README.md: the install and
build commands run in a scratch copy (a fresh venv; npm install), the usage
blocks run against a desk-server with the socket path swapped, after mypy
--strict / tsc --strict; a fragment runs inside the "Use" block's connection;
the method listings are checked against the installed package's methods.

A block no rule knows fails the run: give it a rule here.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
GENERATED_SOCKET = "/tmp/acton.sock"


@dataclass
class Block:
    """One fenced block: where it starts, its info string and its text."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


class BlockFailed(Exception):
    """A block did not do what it shows."""


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    found: list[Block] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if lang is None and line.startswith("```"):
            lang, start, body = line[3:].strip(), number, []
        elif lang is not None and line.strip() == "```":
            found.append(Block(path, start, lang, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    if lang is not None:
        raise BlockFailed(f"{path}:{start}: the block is never closed")
    return found


def swap(text: str, swaps: dict[str, str]) -> str:
    """Replaces each key of `swaps` (which must occur exactly once)."""
    for old, new in swaps.items():
        if text.count(old) != 1:
            raise BlockFailed(f"expected `{old}` once in the block, to run it as `{new}`")
        text = text.replace(old, new)
    return text


def run(
    script: str,
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    capture: bool = False,
) -> str:
    """Runs a bash script (errexit, pipefail); its output goes to ours unless captured."""
    print(textwrap.indent(script.rstrip(), "  $ "), flush=True)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
    )
    if capture and done.stdout:
        print(textwrap.indent(done.stdout.rstrip(), "    "), flush=True)
    if done.returncode != 0:
        raise BlockFailed(f"exited with status {done.returncode}")
    return done.stdout or ""


def socket_is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


@contextmanager
def server(command: str, socket_path: str, *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Iterator[None]:
    """Runs `command` in the background until `socket_path` answers; on leaving, it
    must stop on SIGINT with status 0."""
    if socket_is_live(socket_path):
        raise BlockFailed(f"something already serves {socket_path}: stop it first")
    print(f"  $ {command.strip()} &", flush=True)
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 900  # it may compile first
        while not socket_is_live(socket_path):
            if process.poll() is not None:
                raise BlockFailed(f"the server exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise BlockFailed(f"no server on {socket_path} after 15 minutes")
            time.sleep(0.1)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise BlockFailed("the server did not stop within 30 s of SIGINT") from None
    if process.returncode != 0:
        raise BlockFailed(f"the server exited with status {process.returncode} on SIGINT")


def target_dir() -> Path:
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(metadata)["target_directory"])


# README.md ------------------------------------------------------------------


@dataclass
class Rule:
    """How one README.md block runs: `matches` picks it out, `check` runs it."""

    what: str
    matches: Callable[[Block], bool]
    check: Callable[[Block], None]
    used: int = field(default=0)


def starts(prefix: str) -> Callable[[Block], bool]:
    return lambda block: block.text.startswith(prefix)


def readme_rules(scratch: Path, target: Path) -> list[Rule]:
    actonctl = f"{target}/debug/actonctl"

    def as_written(block: Block) -> None:
        run(block.text)

    def test_command(block: Block) -> None:
        if block.text.strip() != "./scripts/test.sh":
            raise BlockFailed("the test command's block changed: update its rule")
        if os.environ.get("ACTON_TEST_COMMAND") == "scripts/test.sh":
            print("  (this is the command running these checks now)")
        else:
            print("  (not run here: it is the command that runs these checks)")

    def try_it(block: Block) -> None:
        server_line, *lines = block.text.strip().splitlines()
        with server(server_line, "/tmp/acton-desk.sock"):
            output = run("\n".join(lines), capture=True, timeout=120)
        for expected in ('{"sum":42}', '"symbol"', "calculator", "kv_store"):
            if expected not in output:
                raise BlockFailed(f"the commands' output has no `{expected}`")

    def new_project(block: Block) -> None:
        text = swap(
            block.text,
            {"--dir ..": f"--dir {scratch}", "cd ../my-service": f"cd {scratch}/my-service"},
        )
        create, serve = text.strip().splitlines()
        run(create)
        # The new project's README: serve and call, then regenerate the clients,
        # with acton's binaries on PATH (as after `cargo install`).
        project = scratch / "my-service"
        serve_block, regenerate_block = blocks(project / "README.md")
        project_serve, *calls = serve_block.text.strip().splitlines()
        if serve != f"cd {project} && {project_serve.split('#')[0].strip()}":
            raise BlockFailed(f"the new project's README serves with `{project_serve}`")
        env = {
            # The project's own build, sharing compiled dependencies with the workspace.
            "CARGO_TARGET_DIR": str(target / "new-project"),
            "PATH": f"{target}/debug:{os.environ['PATH']}",
        }
        with server(serve, "/tmp/my-service.sock", env=env):
            answer = run("\n".join(calls), cwd=project, env=env, capture=True)
        if "Hello, Ada." not in answer:
            raise BlockFailed(f"the new project answered {answer!r}")
        run(regenerate_block.text, cwd=project, env=env)

    def schema(block: Block) -> None:
        file = scratch / "readme-schema.yaml"
        file.write_text(block.text)
        run(f"cargo run --quiet --locked -p acton-codegen -- validate {file}")

    def rust(binary: str) -> Callable[[Block], None]:
        def check(block: Block) -> None:
            run("cargo build --quiet --locked -p readme-examples")
            if binary == "serving_actors":
                with server(f"{target}/debug/{binary}", "/tmp/acton.sock"):
                    answer = run(
                        f"{actonctl} --socket /tmp/acton.sock call --target calculator "
                        """--type AddRequest '{"a": 40, "b": 2}'""",
                        capture=True,
                    )
                if answer.strip() != '{"sum":42}':
                    raise BlockFailed(f"the server answered {answer!r}")
            else:
                run(f"{target}/debug/{binary}")

        return check

    def shortened(swaps: dict[str, str]) -> Callable[[Block], None]:
        def check(block: Block) -> None:
            run(swap(block.text, swaps))

        return check

    return [
        Rule("the main job", starts("./scripts/demo.sh\n"), as_written),
        Rule("the test command", starts("./scripts/test.sh"), test_command),
        Rule("Try it: desk-server and actonctl", starts("cargo run -p desk --bin desk-server"), try_it),
        Rule("acton-gen new", starts("cargo run -p acton-codegen -- new my-service"), new_project),
        Rule("the schema example", lambda b: b.lang == "yaml", schema),
        Rule(
            "the runtime in one screen",
            lambda b: b.lang == "rust" and "start_ipc_listener" not in b.text,
            rust("runtime_in_one_screen"),
        ),
        Rule(
            "serving actors",
            lambda b: b.lang == "rust" and "start_ipc_listener" in b.text,
            rust("serving_actors"),
        ),
        Rule(
            "the Rust benchmarks, shortened",
            starts("cargo bench -p acton-reactive --bench throughput"),
            shortened(
                {
                    "--bench throughput": "--bench throughput -- --messages 20000 --rounds 1",
                    "--bench ipc": "--bench ipc -- --seconds 0.3 --rounds 1 --idle 100",
                }
            ),
        ),
        Rule(
            "the NATS benchmark, shortened",
            starts("cargo bench -p acton-reactive --all-features --bench nats"),
            shortened({"--bench nats": "--bench nats -- --seconds 0.3 --rounds 1"}),
        ),
        Rule(
            "the Python client benchmark, shortened",
            starts("cargo build --release -p desk --bins && .venv/bin/python"),
            shortened({"bench_client.py": "bench_client.py --seconds 0.3"}),
        ),
        Rule(
            "the TypeScript client benchmark, shortened",
            starts("cargo build --release -p desk --bins && (cd tests/typescript"),
            shortened({"bench.js)": "bench.js 0.3)"}),
        ),
        Rule(
            "the code generation benchmark, shortened",
            starts("cargo bench -p acton-codegen --bench generate"),
            shortened({"--bench generate": "--bench generate -- --types 200 --rounds 1"}),
        ),
        Rule(
            "the soak test, for 6 s",
            starts("cargo bench -p acton-reactive --all-features --bench soak"),
            shortened({"--minutes 10": "--minutes 0.1"}),
        ),
        Rule("fuzzing, 5 s per target", starts("scripts/fuzz.sh"), shortened({"60": "5"})),
    ]


def check_readme(scratch: Path, target: Path, only: str | None) -> list[str]:
    rules = readme_rules(scratch, target)
    failures = []
    for block in blocks(ROOT / "README.md"):
        matching = [rule for rule in rules if rule.matches(block)]
        if len(matching) != 1:
            failures.append(
                f"{block.where}: {len(matching)} rules match this ```{block.lang} block; "
                "give it exactly one in tests/readme/run_blocks.py"
            )
            continue
        rule = matching[0]
        rule.used += 1
        if only and only not in rule.what:
            continue
        failures.extend(attempt(block, rule.what, rule.check))
    failures.extend(
        f"README.md: no block for the rule `{rule.what}` (remove the rule?)" for rule in rules if rule.used == 0
    )
    return failures


def attempt(block: Block, what: str, check: Callable[[Block], None]) -> list[str]:
    print(f"\n==> {block.where} ({block.lang}): {what}", flush=True)
    started = time.monotonic()
    try:
        check(block)
    except (BlockFailed, subprocess.TimeoutExpired, subprocess.CalledProcessError) as error:
        print(f"  FAILED: {error}", flush=True)
        return [f"{block.where}: {what}: {error}"]
    print(f"  ok ({time.monotonic() - started:.1f} s)", flush=True)
    return []


# The generated READMEs -------------------------------------------------------


def python_listing(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return all(re.match(r"(async )?def \w+\(", line) for line in lines)


def check_python_listing(block: Block, venv_python: Path, package: str) -> None:
    """Each listed signature is the installed client's, and every public method is
    listed. The listing is what `ast` reads once each line gets a body."""
    heading = block.path.read_text().splitlines()[: block.line]
    client = next(m.group(1) for line in reversed(heading) if (m := re.match(r"### `(\w+)`", line)))
    listed = {}
    for line in block.text.splitlines():
        code = line.split("  #")[0]
        function = ast.parse(code + ": ...").body[0]
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            raise BlockFailed(f"not a signature: {line}")
        listed[function.name] = {
            "async": isinstance(function, ast.AsyncFunctionDef),
            "parameters": [a.arg for a in function.args.posonlyargs + function.args.args]
            + [a.arg for a in function.args.kwonlyargs],
            "returns": ast.unparse(function.returns) if function.returns else None,
        }
    program = f"""
import inspect, json
from {package} import {client} as client
methods = {{}}
for name, value in vars(client).items():
    if name.startswith("_") or not inspect.isfunction(value):
        continue
    signature = inspect.signature(value)
    methods[name] = {{
        "async": inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value),
        "parameters": [p for p in signature.parameters if p != "self"],
        "returns": signature.return_annotation if isinstance(signature.return_annotation, str) else None,
    }}
print(json.dumps(methods))
"""
    actual = json.loads(subprocess.run([venv_python, "-c", program], check=True, capture_output=True, text=True).stdout)
    inherited = {"check_schema", "close", "reconnect", "connect"}
    for name, shown in listed.items():
        real = actual.get(name)
        if real is None:
            raise BlockFailed(f"{client}.{name} is listed but does not exist")
        if real["returns"] is not None and real["returns"] != shown["returns"]:
            raise BlockFailed(f"{client}.{name} returns {real['returns']}, listed {shown['returns']}")
        if (real["async"], real["parameters"]) != (shown["async"], shown["parameters"]):
            raise BlockFailed(f"{client}.{name}: listed {shown}, is {real}")
    missing = set(actual) - set(listed) - inherited
    if missing:
        raise BlockFailed(f"{client} methods not listed: {sorted(missing)}")


def check_python_readme(scratch: Path, desk_socket: str, only: str | None) -> list[str]:
    readme = ROOT / "generated" / "python" / "README.md"
    with (ROOT / "generated" / "python" / "pyproject.toml").open("rb") as pyproject:
        package = tomllib.load(pyproject)["project"]["name"].replace("-", "_")
    work = scratch / "python"
    shutil.copytree(ROOT / "generated" / "python", work / "generated" / "python")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    venv_env = {"PATH": f"{venv}/bin:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    venv_python = venv / "bin" / "python"
    failures: list[str] = []
    use_block: Block | None = None

    def program(block: Block) -> Path:
        nonlocal use_block
        text = block.text
        if "asyncio.run(" in text:
            use_block = block
        else:
            if use_block is None:
                raise BlockFailed("a fragment before the Use block")
            opening = next(line for line in use_block.text.splitlines() if "async with await" in line)
            text = (
                f"import asyncio\n\nfrom {package} import *  # noqa: F403\n\n\n"
                f"async def main() -> None:\n{opening}\n" + textwrap.indent(text, " " * 8) + "\n\nasyncio.run(main())\n"
            )
        file = work / f"block_{block.line}.py"
        file.write_text(text.replace(GENERATED_SOCKET, desk_socket))
        return file

    def install(block: Block) -> None:
        run(block.text, cwd=work, env=venv_env)

    def listing(block: Block) -> None:
        check_python_listing(block, venv_python, package)

    def run_python(block: Block) -> None:
        file = program(block)
        run(
            f"{PYTHON} -m mypy --strict --no-incremental --python-executable {venv_python} {file}",
            capture=True,
        )
        output = run(f"{venv_python} {file}", capture=True, timeout=60)
        if not output.strip():
            raise BlockFailed("printed nothing")

    for block in blocks(readme):
        if only and only not in "generated python":
            continue
        if block.lang == "sh":
            what, check = "install, in a fresh venv", install
        elif block.lang == "python" and python_listing(block.text):
            what, check = "method listing against the installed client", listing
        elif block.lang == "python":
            what, check = "mypy --strict, then run against a desk-server", run_python
        else:
            failures.append(f"{block.where}: no rule for a ```{block.lang} block")
            continue
        failures.extend(attempt(block, what, check))
    return failures


def ts_listing(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return all(re.match(r"(async \*?)?\w+\(", line) for line in lines)


def check_typescript_readme(scratch: Path, desk_socket: str, only: str | None) -> list[str]:
    readme = ROOT / "generated" / "typescript" / "README.md"
    work = scratch / "typescript"
    package_dir = work / "generated" / "typescript"
    shutil.copytree(
        ROOT / "generated" / "typescript",
        package_dir,
        ignore=shutil.ignore_patterns("node_modules", "dist"),
    )
    name = json.loads((package_dir / "package.json").read_text())["name"]
    app = work / "app"
    (app / "node_modules").mkdir(parents=True)
    (app / "node_modules" / name).symlink_to(package_dir)
    (app / "node_modules" / "@types").symlink_to(package_dir / "node_modules" / "@types")
    (app / "package.json").write_text('{"type": "module", "private": true}\n')
    tsconfig = json.loads((package_dir / "tsconfig.json").read_text())
    options = {
        **tsconfig["compilerOptions"],
        "declaration": False,
        "rootDir": ".",
        "outDir": "dist",
    }
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": options, "include": ["*.ts"]}, indent=2))
    tsc = package_dir / "node_modules" / ".bin" / "tsc"
    failures: list[str] = []
    use_block: Block | None = None

    def build(block: Block) -> None:
        run(block.text, cwd=work)

    def run_ts(block: Block) -> None:
        nonlocal use_block
        text = block.text
        if text.startswith("import "):
            use_block = block
        else:
            if use_block is None:
                raise BlockFailed("a fragment before the Use block")
            used = sorted(set(re.findall(r"\b(\w+Client)\.connect", text)))
            opening = next(line for line in use_block.text.splitlines() if line.startswith("const client"))
            client = re.search(r"await (\w+)\.connect", opening)
            assert client is not None
            imports = ", ".join(sorted({client.group(1), *used}))
            text = (
                f'import {{ {imports} }} from "{name}";\n\n{opening}\ntry {{\n'
                + textwrap.indent(text, "  ")
                + "} finally {\n  client.close();\n}\n"
            )
        for file in app.glob("*.ts"):
            file.unlink()
        shutil.rmtree(app / "dist", ignore_errors=True)
        (app / f"block_{block.line}.ts").write_text(text.replace(GENERATED_SOCKET, desk_socket))
        run(f"{tsc} -p .", cwd=app)
        output = run(f"node dist/block_{block.line}.js", cwd=app, capture=True, timeout=60)
        if not output.strip():
            raise BlockFailed("printed nothing")

    def check_listing(block: Block) -> None:
        heading = block.path.read_text().splitlines()[: block.line]
        client = next(m.group(1) for line in reversed(heading) if (m := re.match(r"### `(\w+)`", line)))
        members: list[str] = []
        methods: list[str] = []
        for line in block.text.splitlines():
            code = line.split("  //")[0].strip()
            code = re.sub(r"^async \*?", "", code)
            # Each member's parameters and result must be the same types as the
            # client's (assignability alone would let parameters vary both ways).
            member = re.fullmatch(r"(\w+)\((.*)\): (.+)", code)
            if member is None:
                raise BlockFailed(f"not a method signature: {line}")
            method, parameters, returns = member.groups()
            members.append(f"  {method}: ({parameters}) => {returns};")
            methods.append(method)
        text = (
            f'import type {{ {client}, CallOptions, TypedSubscription }} from "{name}";\n'
            f'import type * as types from "{name}";\n\n'
            "type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2\n"
            "  ? true\n  : false;\n"
            f"interface Listing {{\n"
            + "\n".join(members)
            + "\n}\n"
            + "".join(
                f'export const {m}Listed: Same<Parameters<{client}["{m}"]>, Parameters<Listing["{m}"]>> &\n'
                f'  Same<ReturnType<{client}["{m}"]>, ReturnType<Listing["{m}"]>> = true;\n'
                for m in methods
            )
            + f"type Unlisted = Exclude<keyof {client}, keyof Listing | "
            '"close" | "reconnect" | "checkSchema" | "connection">;\n'
            "export const everyMethodListed: [Unlisted] extends [never] ? true : Unlisted = true;\n"
        )
        for file in app.glob("*.ts"):
            file.unlink()
        (app / f"listing_{block.line}.ts").write_text(text)
        run(f"{tsc} -p . --noEmit", cwd=app)

    for block in blocks(readme):
        if only and only not in "generated typescript":
            continue
        if block.lang == "sh":
            what, check = "build, in a scratch copy", build
        elif block.lang == "ts" and ts_listing(block.text):
            what, check = "method listing against the built client (tsc)", check_listing
        elif block.lang == "ts":
            what, check = "tsc --strict, then run against a desk-server", run_ts
        else:
            failures.append(f"{block.where}: no rule for a ```{block.lang} block")
            continue
        failures.extend(attempt(block, what, check))
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only the rules whose description contains TEXT")
    args = parser.parse_args()
    target = target_dir()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="acton-readme-") as scratch_dir:
        scratch = Path(scratch_dir)
        failures += check_readme(scratch, target, args.only)
        run("cargo build --quiet --locked -p desk --bins")
        desk_socket = str(scratch / "desk.sock")
        with server(f"{target}/debug/desk-server --socket {desk_socket}", desk_socket):
            failures += check_python_readme(scratch, desk_socket, args.only)
            failures += check_typescript_readme(scratch, desk_socket, args.only)
    if failures:
        print("\nREADME blocks that do not work as written:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("\nevery README block works as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
