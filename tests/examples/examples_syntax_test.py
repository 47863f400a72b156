#!/usr/bin/env python3
"""The operator examples under examples/ are well formed and ask the real binary
only for what it has (ctest: examples.syntax).

  * every shell script passes `bash -n`; migrate-phases.sh and this directory's
    scripts pass shellcheck (when it is installed; the check is named either way);
  * the cron file (examples/cron/webookctl) is a valid /etc/cron.d file: a name
    without a dot, a newline at the end, five time fields, a user and a command
    per job line, values in range;
  * the systemd units (examples/systemd/) have the keys the README's operator
    needs (User=, ProtectSystem=strict, Restart=always for the long-running
    ones, a .service for every .timer, ...), and pass `systemd-analyze verify`
    when systemd-analyze is installed (with /usr/bin/webookctl pointed at the
    binary under test, the template unit as one instance);
  * every `webookctl ...` command line in the cron file and the units uses
    commands and options the binary has: each option is in its command's
    --help, options marked REQUIRED there are given, the line with --help
    appended is accepted (values parse: durations, enums), and the line itself
    -- config, Kafka and files pointed at a scratch directory and at servers
    that refuse connections -- gets as far as connecting (exit 3, "cannot
    connect"/"cannot reach Kafka"), so no flag, flag combination or config key
    is refused (exit 2);
  * examples/webookctl.toml loads (unknown keys are a config error), names its
    passwords by password_file, and no example holds a password;
  * README.md's Examples section names every file under examples/.

usage: examples_syntax_test.py WEBOOKCTL_BINARY SOURCE_DIR
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

BINARY, ROOT = sys.argv[1], sys.argv[2]
EXAMPLES = os.path.join(ROOT, "examples")
CONFIG_PATH = "/etc/webookctl/webookctl.toml"
failures = []
checked = []


def fail(what):
    failures.append(what)
    print("FAIL: " + what, file=sys.stderr)


def ok(what):
    checked.append(what)
    print("ok: " + what)


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def example_files():
    out = []
    for d, _, files in os.walk(EXAMPLES):
        out += [os.path.relpath(os.path.join(d, f), EXAMPLES) for f in files]
    return sorted(out)


# --- shell scripts ----------------------------------------------------------

def check_scripts():
    scripts = [f for f in example_files() if f.endswith(".sh")]
    for s in scripts:
        r = run(["bash", "-n", os.path.join(EXAMPLES, s)])
        if r.returncode != 0:
            fail(f"bash -n examples/{s}: {r.stderr.strip()}")
        else:
            ok(f"bash -n examples/{s}")
    here = os.path.dirname(os.path.abspath(__file__))
    linted = [os.path.join(EXAMPLES, "migrate-phases.sh")] + [
        os.path.join(here, f) for f in sorted(os.listdir(here)) if f.endswith(".sh")]
    if shutil.which("shellcheck") is None:
        print("note: shellcheck is not installed: the shellcheck check did not run (apt-get install shellcheck)")
        return
    for s in linted:
        r = run(["shellcheck", "-x", s])
        if r.returncode != 0:
            fail(f"shellcheck {os.path.relpath(s, ROOT)}:\n{r.stdout}{r.stderr}")
        else:
            ok(f"shellcheck {os.path.relpath(s, ROOT)}")


# --- the cron file ------------------------------------------------------------

CRON_RANGES = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)]


def cron_field_ok(field, lo, hi):
    for part in field.split(","):
        m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not m:
            return False
        nums = [int(x) for x in (m.group(2), m.group(3)) if x is not None]
        if any(n < lo or n > hi for n in nums):
            return False
        if m.group(4) is not None and int(m.group(4)) == 0:
            return False
    return True


def cron_invocations():
    """(where, argv after the binary, environment) of every webookctl command in the cron file."""
    path = os.path.join(EXAMPLES, "cron", "webookctl")
    text = read(path)
    if "." in os.path.basename(path):
        fail("cron file name has a dot: cron ignores it")
    if not text.endswith("\n"):
        fail("examples/cron/webookctl does not end with a newline: cron ignores its last line")
    env, out, jobs = {}, [], 0
    for n, line in enumerate(text.splitlines(), 1):
        where = f"examples/cron/webookctl:{n}"
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", s)
        if m:
            env[m.group(1)] = m.group(2)
            continue
        fields = s.split(None, 6)
        if len(fields) < 7:
            fail(f"{where}: a job line needs 5 time fields, a user and a command")
            continue
        jobs += 1
        for value, (name, lo, hi) in zip(fields[:5], CRON_RANGES):
            if not cron_field_ok(value, lo, hi):
                fail(f"{where}: bad {name} field '{value}'")
        if fields[5] != "webookctl":
            fail(f"{where}: runs as '{fields[5]}', not the webookctl system user")
        command = fields[6]
        if "%" in command:
            fail(f"{where}: an unescaped % in a cron command is a newline")
        words = shlex.split(command)
        # The command is run by /bin/sh: cut at the first pipe or redirection.
        for i, w in enumerate(words):
            if w in ("|", "||", "&&", ";") or w.startswith(">") or w.startswith("2>"):
                words = words[:i]
                break
        starts = [i for i, w in enumerate(words) if w == "webookctl" or w.endswith("/webookctl")]
        if not starts:
            fail(f"{where}: no webookctl command")
            continue
        out.append((where, words[starts[0] + 1:], env))
    for name in ("SHELL", "PATH"):
        if name not in env:
            fail(f"examples/cron/webookctl sets no {name} (cron's default PATH lacks /usr/bin on some systems)")
    if jobs < 3:
        fail(f"examples/cron/webookctl has {jobs} job lines, expected validation, reconciliation and ranking")
    ok(f"examples/cron/webookctl: {jobs} job lines well formed")
    return out


# --- systemd units -------------------------------------------------------------

def parse_unit(path):
    """{section: [(key, value)]} with continuation lines joined."""
    sections, current, pending = {}, None, ""
    for raw in read(path).splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        k, _, v = line.partition("=")
        sections.setdefault(current, []).append((k.strip(), v.strip()))
    return sections


def values(unit, section, key):
    return [v for k, v in unit.get(section, []) if k == key]


def unit_env():
    env = {}
    for line in read(os.path.join(EXAMPLES, "systemd", "webookctl.env")).splitlines():
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line.strip())
        if m:
            env[m.group(1)] = m.group(2).strip('"')
    return env


LONG_RUNNING = ("webookctl-fix@.service", "webookctl-relay.service", "webookctl-payments-consume.service")
EXPECTED_UNITS = LONG_RUNNING + ("webookctl-validate.service", "webookctl-validate.timer",
                                 "webookctl-reconcile.service", "webookctl-reconcile.timer")


def check_units():
    d = os.path.join(EXAMPLES, "systemd")
    names = sorted(f for f in os.listdir(d) if f.endswith((".service", ".timer")))
    for want in EXPECTED_UNITS:
        if want not in names:
            fail(f"examples/systemd/{want} is missing")
    env = unit_env()
    out = []
    for name in names:
        u = parse_unit(os.path.join(d, name))
        where = f"examples/systemd/{name}"
        problems = []
        if not values(u, "Unit", "Description"):
            problems.append("no Description=")
        if name.endswith(".timer"):
            if not (values(u, "Timer", "OnCalendar") or values(u, "Timer", "OnUnitActiveSec")):
                problems.append("no OnCalendar=")
            if "timers.target" not in values(u, "Install", "WantedBy"):
                problems.append("not WantedBy=timers.target")
            if name.replace(".timer", ".service") not in names:
                problems.append("no .service of the same name")
        else:
            want = {"User": "webookctl", "Group": "webookctl", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                    "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": ""}
            for k, v in want.items():
                if values(u, "Service", k) != [v]:
                    problems.append(f"{k}={v} expected, found {values(u, 'Service', k)}")
            if values(u, "Service", "DynamicUser") and values(u, "Service", "User"):
                problems.append("both DynamicUser= and User=")
            execs = values(u, "Service", "ExecStart")
            if len(execs) != 1:
                problems.append(f"{len(execs)} ExecStart= lines")
            if name in LONG_RUNNING:
                if values(u, "Service", "Restart") != ["always"]:
                    problems.append("a long-running job without Restart=always")
                if "130" not in " ".join(values(u, "Service", "SuccessExitStatus")).split():
                    problems.append("SIGTERM's exit 130 is not SuccessExitStatus=")
                if not values(u, "Install", "WantedBy"):
                    problems.append("no [Install] WantedBy=")
            else:
                if values(u, "Service", "Type") != ["oneshot"]:
                    problems.append("a timer's job should be Type=oneshot")
                if name.replace(".service", ".timer") not in names:
                    problems.append("no .timer of the same name")
            for v in values(u, "Service", "EnvironmentFile"):
                if not v.lstrip("-").startswith("/etc/webookctl/"):
                    problems.append(f"EnvironmentFile={v} outside /etc/webookctl")
            for e in execs:
                words = shlex.split(e)
                if words[0] != "/usr/bin/webookctl":
                    problems.append(f"ExecStart= runs {words[0]}, not /usr/bin/webookctl")
                    continue
                out.append((where, words[1:], env))
        if problems:
            fail(f"{where}: " + "; ".join(problems))
        else:
            ok(f"{where}: required keys present")
    return out, names


def verify_units(names):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("note: systemd-analyze is not installed: units checked by their keys only")
        return
    with tempfile.TemporaryDirectory() as tmp:
        targets = []
        for name in names:
            text = read(os.path.join(EXAMPLES, "systemd", name)).replace("/usr/bin/webookctl", os.path.abspath(BINARY))
            out = name.replace("@.service", "@webook-fixers.service")
            with open(os.path.join(tmp, out), "w", encoding="utf-8") as f:
                f.write(text)
            targets.append(out)
        r = run([analyze, "verify", "--man=no"] + targets, cwd=tmp)
        # verify exits 0 after warnings such as an unknown key: any output is a failure.
        if r.returncode != 0 or r.stderr.strip() or r.stdout.strip():
            fail(f"systemd-analyze verify: exit {r.returncode}\n{r.stdout}{r.stderr}")
        else:
            ok(f"systemd-analyze verify: {len(targets)} units")
        for name in names:
            if name.endswith(".timer"):
                for cal in values(parse_unit(os.path.join(EXAMPLES, "systemd", name)), "Timer", "OnCalendar"):
                    r = run([analyze, "calendar", cal])
                    if r.returncode != 0:
                        fail(f"examples/systemd/{name}: OnCalendar={cal}: {r.stderr.strip()}")


# --- the command lines against the binary -----------------------------------------

def help_of(path):
    r = run([BINARY] + path + ["--help"])
    if r.returncode != 0:
        raise RuntimeError(f"webookctl {' '.join(path)} --help: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


OPTION_LINE = re.compile(r"^\s+(?:-\w,)?(--[A-Za-z0-9][A-Za-z0-9-]*)(?:\s+([A-Z][A-Z_]+|[A-Z])(?::\{[^}]*\})?(?=\s|$))?(.*)$")


def options_of(text):
    """{--name: (takes_value, required)} from the Options section of a --help."""
    opts, in_options = {}, False
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            in_options = line.startswith("Options")
            continue
        if in_options:
            m = OPTION_LINE.match(line)
            if m:
                opts[m.group(1)] = (m.group(2) is not None, "REQUIRED" in (m.group(3) or ""))
    return opts


def subcommands_of(text):
    subs, inside = set(), False
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            inside = line.startswith("Subcommands")
            continue
        if inside:
            m = re.match(r"^\s+([a-z][a-z-]*)\s", line + " ")
            if m:
                subs.add(m.group(1))
    return subs


def expand(word, env):
    """$VAR / ${VAR} from the environment (systemd or cron); %i as an instance name."""
    word = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), word)
    return word.replace("%i", "webook-fixers").replace("%I", "webook-fixers")


def check_invocation(where, words, env, probe):
    words = [w for w in (expand(w, env) for w in words) if w != ""]
    top = options_of(help_of([]))
    problems, i, path = [], 0, []
    # Global options, then the command path, then the command's options.
    while i < len(words) and words[i].startswith("--"):
        name = words[i].split("=", 1)[0]
        if name not in top:
            problems.append(f"global option {name} does not exist")
            i += 1
            continue
        i += 2 if top[name][0] and "=" not in words[i] else 1
    if "--config" not in words[:i] or words[words.index("--config") + 1] != CONFIG_PATH:
        problems.append(f"does not read --config {CONFIG_PATH}")
    text = help_of(path)
    while i < len(words) and words[i] in subcommands_of(text):
        path.append(words[i])
        text = help_of(path)
        i += 1
    if subcommands_of(text):
        problems.append(f"'webookctl {' '.join(path)}' needs a subcommand")
    opts = options_of(text)
    given = set()
    while i < len(words):
        w = words[i]
        if not w.startswith("--"):
            problems.append(f"unexpected word '{w}' after 'webookctl {' '.join(path)}'")
            i += 1
            continue
        name = w.split("=", 1)[0]
        if name not in opts:
            problems.append(f"'webookctl {' '.join(path)}' has no option {name}")
            i += 1
            continue
        given.add(name)
        i += 2 if opts[name][0] and "=" not in w else 1
    for name, (_, required) in opts.items():
        if required and name not in given:
            problems.append(f"{name} is required by 'webookctl {' '.join(path)}'")
    # The binary itself: the line with --help appended parses (values checked).
    r = run([BINARY] + words + ["--help"])
    if r.returncode != 0:
        problems.append(f"with --help appended: exit {r.returncode}: {r.stderr.strip()}")
    # The line as it runs, against servers that refuse: it must get as far as
    # connecting (exit 3), i.e. every flag, combination and config key accepted.
    argv = probe(words)
    r = run([BINARY] + argv, timeout=120)
    if r.returncode != 3 or not re.search(r"cannot connect|cannot reach Kafka|connection refused", r.stderr):
        problems.append(f"run against refusing servers: exit {r.returncode} (expected 3, a connection error): "
                        f"{r.stderr.strip()[-300:]}")
    label = f"{where}: webookctl {' '.join(path)}"
    if problems:
        fail(label + ": " + "; ".join(problems))
    else:
        ok(label + " (options in --help, accepted by the binary)")


def make_probe(tmp):
    """The example config pointed at refusing servers and scratch password files,
    and a function rewriting one command line to use it."""
    text = read(os.path.join(EXAMPLES, "webookctl.toml"))
    if re.search(r"^\s*password\s*=", text, re.M):
        fail("examples/webookctl.toml holds a password")
    files = re.findall(r'password_file\s*=\s*"([^"]+)"', text)
    if not files or any(not f.startswith("/etc/webookctl/") for f in files):
        fail(f"examples/webookctl.toml: password_file should name files under /etc/webookctl/, found {files}")

    def scratch_password(m):
        p = os.path.join(tmp, os.path.basename(m.group(1)))
        with open(p, "w", encoding="utf-8") as f:
            f.write("not-a-real-password\n")
        return f'password_file = "{p}"'

    text = re.sub(r'password_file\s*=\s*"([^"]+)"', scratch_password, text)
    text = re.sub(r'(mysql|postgres)://([^@/"]+)@[^/"]+/', r"\1://\2@127.0.0.1:1/", text)
    config = os.path.join(tmp, "webookctl.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(text)
    r = run([BINARY, "--config", config, "migrate", "mode", "get"])
    if r.returncode != 3:
        fail(f"examples/webookctl.toml does not load: 'webookctl --config ... migrate mode get' exit "
             f"{r.returncode} (expected 3: no server): {r.stderr.strip()}")
    else:
        ok("examples/webookctl.toml loads (keys, DSNs, password files)")

    def probe(words):
        out = []
        for w in words:
            w = w.replace(CONFIG_PATH, config)
            w = re.sub(r"kafka://[^/]+/", "kafka://127.0.0.1:1/", w)
            w = re.sub(r"^(file://)?/var/\S*/([^/]+)$", lambda m: (m.group(1) or "") + os.path.join(tmp, m.group(2)), w)
            out.append(w)
        return out

    return probe


def check_no_passwords():
    for f in example_files():
        if f.endswith(".sh"):
            continue
        text = read(os.path.join(EXAMPLES, f))
        if re.search(r"(mysql|postgres)://[^@\s/\"]+:[^@\s/\"]+@", text):
            fail(f"examples/{f}: a DSN with a password")
        if re.search(r"^\s*(Environment=)?\"?WEBOOKCTL_\w*PASSWORD\w*=", text, re.M):
            fail(f"examples/{f}: sets a password variable")
    ok("no example holds a password")


def check_readme():
    readme = read(os.path.join(ROOT, "README.md"))
    m = re.search(r"^### Examples\n(.*?)(?=^##)", readme, re.M | re.S)
    if not m:
        fail("README.md has no '### Examples' section")
        return
    section = m.group(1)
    missing = [f for f in example_files() if f"examples/{f}" not in section]
    if missing:
        fail("README.md's Examples section does not name: " + ", ".join(missing))
    else:
        ok("README.md's Examples section names every file under examples/")


def main():
    if not os.access(BINARY, os.X_OK):
        print(f"FAIL: the binary {BINARY} is not there", file=sys.stderr)
        return 1
    check_scripts()
    invocations = cron_invocations()
    unit_invocations, names = check_units()
    verify_units(names)
    check_no_passwords()
    check_readme()
    with tempfile.TemporaryDirectory() as tmp:
        probe = make_probe(tmp)
        for where, words, env in invocations + unit_invocations:
            try:
                check_invocation(where, words, env, probe)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                fail(f"{where}: {e}")
    print(f"\n{len(checked)} checks passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
