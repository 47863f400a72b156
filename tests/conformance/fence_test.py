#!/usr/bin/env python3
"""Conformance test of docs/writer-protocol.md: a writer in another language.

Writers in other processes (tests/conformance/writer.py: Python with Debian's
python3-pymysql and python3-psycopg2, not linked to our code) double-write
while the real `webookctl migrate mode set` goes src_only -> src_first ->
dst_first -> dst_only under them, MariaDB source (and control database) and
PostgreSQL target. After each switch returns, the driver checks that no
writer applies the old mode ("once `mode set` returns, no writer anywhere
applies the old mode", docs/writer-protocol.md), as the C++ test
DoubleWrite.OnceTheSwitchReturnsNoWriterAppliesTheOldMode does for our own
double-write connection.

Every row's body names the mode its writer applied ("<mode>:<worker>.<thread>:<n>").
Checks, per switch from OLD to NEW (snapshots are taken the moment `mode set`
returns, reading the source, then the target):
  * tags:   the rows tagged OLD, on either side, are all there at the
            snapshot; none appears later.
  * src_only -> src_first: a row only the source has, that is not a counted
            second-side failure, was written in src_only. The set of such rows
            at the snapshot never gains members later.
  * src_first -> dst_first: from the snapshot on, no writer writes the source
            first: a sampler reading the source, then the target, every few
            ms, never sees a row on the source only other than src_only rows
            and counted second-side failures of src_first.
  * dst_first -> dst_only: the source's set of ids never grows again.
And at the end: every row sits on the sides its mode writes (src_only: source
only; src_first/dst_first: both, with the same body; dst_only: target only);
no user write failed; writers ran in every mode; the second-side failures
the writers made on purpose (rows tagged ":x", which a CHECK constraint on
the second side rejects) were each counted in the control row, with the
exact UPDATE of the protocol, so `migrate status` reports them; the rest of
such a transaction (its ":y" row) skipped the second side.

A missing server, environment variable, binary or Python module is a
failure, never a skip. Exit 0 when conformant, 1 on a violation, 2 when the
test could not run.

Environment (`source .run/services.env`, see scripts/services.sh):
  WEBOOK_MYSQL_DSN, WEBOOK_PG_DSN   servers; throwaway databases are made there
  WEBOOKCTL_SOURCE_PASSWORD, WEBOOKCTL_TARGET_PASSWORD, WEBOOKCTL_PASSWORD
  WEBOOKCTL                         the binary (default: build/cli/webookctl)
  WEBOOK_CONFORMANCE_WRITER         another writer to test (default: writer.py
                                    next to this file; *.py runs with this
                                    interpreter). It takes writer.py's flags,
                                    prints "ready", runs until its stdin
                                    closes, then prints writer.py's JSON line.
  WEBOOK_CONFORMANCE_PROCESSES (2), WEBOOK_CONFORMANCE_THREADS (4),
  WEBOOK_CONFORMANCE_SECONDS_PER_MODE (1.0), WEBOOK_CONFORMANCE_KEEP=1 keeps
  the databases and the writers' logs.
"""

import os
import sys

SYSTEM_PYTHON = "/usr/bin/python3"


def _missing_modules():
    try:
        import psycopg2  # noqa: F401
        import pymysql  # noqa: F401
    except ImportError as e:
        return e
    return None


# Debian's python3-pymysql and python3-psycopg2 belong to Debian's python3; a
# python3 earlier on PATH (pyenv, a virtualenv) does not see them.
_err = _missing_modules()
if _err is not None and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) \
        and os.access(SYSTEM_PYTHON, os.X_OK) and not os.environ.get("WEBOOK_CONFORMANCE_REEXEC"):
    os.environ["WEBOOK_CONFORMANCE_REEXEC"] = "1"
    os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
if _err is not None:
    print(f"fence_test: FAIL: {_err} (with {sys.executable}): install python3-pymysql and python3-psycopg2 "
          "(scripts/setup.sh)", file=sys.stderr)
    sys.exit(2)

import datetime  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

import psycopg2  # noqa: E402
import pymysql  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODES = ("src_only", "src_first", "dst_first", "dst_only")
CONTROL = "webookctl_control"
MIN_TRANSACTIONS_PER_MODE = 5


class CannotRun(Exception):
    pass


def say(msg):
    print(f"fence_test: {msg}", flush=True)


def env(name, *fallbacks):
    for n in (name,) + fallbacks:
        v = os.environ.get(n)
        if v:
            return v
    raise CannotRun(f"{name} is not set: run scripts/services.sh start and source .run/services.env")


def parse_url(url):
    u = urllib.parse.urlsplit(url)
    return {"scheme": u.scheme, "host": u.hostname or "127.0.0.1", "port": u.port,
            "user": urllib.parse.unquote(u.username or ""), "database": u.path.lstrip("/")}


def url_for(dsn, database):
    return f"{dsn['scheme']}://{dsn['user']}@{dsn['host']}:{dsn['port']}/{database}"


def mysql_connect(dsn, database, password):
    try:
        conn = pymysql.connect(host=dsn["host"], port=dsn["port"], user=dsn["user"], password=password,
                               database=database, autocommit=True, connect_timeout=5, charset="utf8mb4")
    except Exception as e:
        raise CannotRun(f"cannot connect to MariaDB at {dsn['host']}:{dsn['port']}/{database}: {e} "
                        "(scripts/services.sh start)")
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
    return conn


def pg_connect(dsn, database, password):
    try:
        conn = psycopg2.connect(host=dsn["host"], port=dsn["port"], user=dsn["user"], password=password,
                                dbname=database, connect_timeout=5, options="-c TimeZone=UTC")
    except Exception as e:
        raise CannotRun(f"cannot connect to PostgreSQL at {dsn['host']}:{dsn['port']}/{database}: {e} "
                        "(scripts/services.sh start)")
    conn.autocommit = True
    return conn


def query(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def notes(conn):
    return {int(i): b for i, b in query(conn, "SELECT id, body FROM notes")}


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Databases:
    """wbt_writerfence_<pid>_0 on both servers (the C++ tests' ScratchDatabase
    naming, so a killed run's databases are dropped by the next test run)."""

    def __init__(self, my_dsn, pg_dsn, src_pw, dst_pw):
        self.my_dsn, self.pg_dsn, self.src_pw, self.dst_pw = my_dsn, pg_dsn, src_pw, dst_pw
        self.name = f"wbt_writerfence_{os.getpid()}_0"
        self.my_admin = mysql_connect(my_dsn, my_dsn["database"], src_pw)
        self.pg_admin = pg_connect(pg_dsn, pg_dsn["database"], dst_pw)
        self.created = []

    def drop_leftovers(self):
        for admin, sql, drop in (
                (self.my_admin, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                                "WHERE SCHEMA_NAME LIKE 'wbt\\_writerfence\\_%'", "DROP DATABASE IF EXISTS `{}`"),
                (self.pg_admin, "SELECT datname FROM pg_database WHERE datname LIKE 'wbt\\_writerfence\\_%'",
                 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)')):
            for (name,) in query(admin, sql):
                try:
                    pid = int(name.split("_")[-2])
                except ValueError:
                    continue
                if not pid_alive(pid):
                    query(admin, drop.format(name))

    def create(self):
        self.drop_leftovers()
        query(self.my_admin, f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        self.created.append("mysql")
        query(self.pg_admin, f'CREATE DATABASE "{self.name}" TEMPLATE template0 ENCODING \'UTF8\'')
        self.created.append("pg")
        # notes on both sides. A ":x" row of a double-write mode is rejected by
        # its second side (the target in src_first, the source in dst_first):
        # real second-side failures, on purpose.
        src = mysql_connect(self.my_dsn, self.name, self.src_pw)
        query(src, "CREATE TABLE notes (id BIGINT PRIMARY KEY, body VARCHAR(64) NOT NULL, "
                   "CONSTRAINT poison_dst_first CHECK (body NOT LIKE 'dst_first:%:x')) ENGINE=InnoDB")
        src.close()
        dst = pg_connect(self.pg_dsn, self.name, self.dst_pw)
        query(dst, "CREATE TABLE notes (id BIGINT PRIMARY KEY, body VARCHAR(64) NOT NULL, "
                   "CONSTRAINT poison_src_first CHECK (body NOT LIKE 'src_first:%:x'))")
        dst.close()

    def source(self):
        return mysql_connect(self.my_dsn, self.name, self.src_pw)

    def target(self):
        return pg_connect(self.pg_dsn, self.name, self.dst_pw)

    def drop(self):
        if "mysql" in self.created:
            query(self.my_admin, f"DROP DATABASE IF EXISTS `{self.name}`")
        if "pg" in self.created:
            query(self.pg_admin, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Webookctl:
    def __init__(self, binary, source_url):
        self.binary = binary
        self.source_url = source_url
        help_text = self.run(["migrate", "mode", "set", "--help"], check=True, json_output=False).stdout
        # `mode set` past src_only may be gated; the test forces its way.
        self.force = ["--force", "--reason", "writer conformance test"] if "--force" in help_text else []

    def run(self, args, check=True, json_output=True):
        cmd = [self.binary] + (["--output", "json"] if json_output else []) + args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise CannotRun(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def mode_set(self, mode):
        args = ["migrate", "mode", "set", mode, "--source", self.source_url, "--lock-wait", "30s"]
        if mode != "src_only":
            args += self.force
        r = self.run(args)
        t_returned = time.time()
        lines = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("{")]
        result = json.loads(lines[-1]) if lines else {}
        return t_returned, result


class WriterProcess:
    def __init__(self, command, worker_id, args, log_path, err_path):
        self.worker_id = worker_id
        self.log_path = log_path
        self.err_path = err_path
        self.err = open(err_path, "w")
        self.proc = subprocess.Popen(command + args + ["--worker-id", str(worker_id), "--log", log_path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                self.ready.set()
        self.ready.set()  # exited: wait_ready() tells

    def wait_ready(self, timeout):
        if not self.ready.wait(timeout) or "ready" not in self.lines:
            raise CannotRun(f"writer {self.worker_id} did not get ready (exit {self.proc.poll()}): "
                            f"{self.stderr_tail()}")

    def stop(self, timeout):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise CannotRun(f"writer {self.worker_id} did not stop within {timeout}s of its stdin closing")
        self.reader.join(5)
        self.err.close()
        summary = None
        for line in reversed(self.lines):
            if line.startswith("{"):
                summary = json.loads(line)
                break
        return self.proc.returncode, summary

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_tail(self, n=5):
        try:
            with open(self.err_path) as f:
                return " | ".join(f.read().strip().splitlines()[-n:])
        except OSError:
            return ""


class Sampler(threading.Thread):
    """Reads the source, then the target, over and over: a row the source has
    and the target lacks, at a moment when no writer should write the source
    first, is recorded."""

    def __init__(self, dbs):
        super().__init__(daemon=True)
        self.src, self.dst = dbs.source(), dbs.target()
        self.stop_event = threading.Event()
        self.samples = 0
        self.source_only = {}  # id -> (body, time seen)
        self.error = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                t = time.time()
                s = notes(self.src)
                d = notes(self.dst)
                self.samples += 1
                for i in s.keys() - d.keys():
                    self.source_only.setdefault(i, (s[i], t))
                time.sleep(0.003)
        except Exception as e:
            self.error = e


def tag_mode(body):
    return body.split(":", 1)[0]


def poisoned(body):
    return body.endswith(":x") or body.endswith(":y")


def main():
    my_dsn = parse_url(env("WEBOOK_MYSQL_DSN"))
    pg_dsn = parse_url(env("WEBOOK_PG_DSN"))
    my_dsn["port"] = my_dsn["port"] or 3306
    pg_dsn["port"] = pg_dsn["port"] or 5432
    src_pw = env("WEBOOKCTL_SOURCE_PASSWORD", "WEBOOKCTL_PASSWORD")
    dst_pw = env("WEBOOKCTL_TARGET_PASSWORD", "WEBOOKCTL_PASSWORD")
    binary = os.environ.get("WEBOOKCTL") or os.path.join(ROOT, "build", "cli", "webookctl")
    if not os.access(binary, os.X_OK):
        raise CannotRun(f"no webookctl binary at {binary} (build it, or set WEBOOKCTL)")
    writer = os.environ.get("WEBOOK_CONFORMANCE_WRITER") or os.path.join(HERE, "writer.py")
    writer_cmd = [sys.executable, writer] if writer.endswith(".py") else [writer]
    if not os.path.exists(writer):
        raise CannotRun(f"no writer at {writer}")
    processes = int(os.environ.get("WEBOOK_CONFORMANCE_PROCESSES", "2"))
    threads = int(os.environ.get("WEBOOK_CONFORMANCE_THREADS", "4"))
    per_mode = float(os.environ.get("WEBOOK_CONFORMANCE_SECONDS_PER_MODE", "1.0"))
    keep = os.environ.get("WEBOOK_CONFORMANCE_KEEP") == "1"

    dbs = Databases(my_dsn, pg_dsn, src_pw, dst_pw)
    workdir = tempfile.mkdtemp(prefix="writer-fence-")
    writers = []
    sampler = None
    violations = []
    try:
        dbs.create()
        source_url = url_for(my_dsn, dbs.name)
        target_url = url_for(pg_dsn, dbs.name)
        ctl = Webookctl(binary, source_url)
        say(f"databases {dbs.name} (MariaDB source + control, PostgreSQL target); webookctl {binary}; "
            f"writer {' '.join(writer_cmd)}; {processes}x{threads} writers; "
            f"{'--force --reason on gated steps' if ctl.force else 'mode set has no --force (no gates yet)'}")

        # The control table and its rows: what `mode set src_only` makes.
        _, r = ctl.mode_set("src_only")
        src = dbs.source()
        rows = {n: (v, ver, ut) for n, v, ver, ut in query(src, f"SELECT name, value, version, utime FROM {CONTROL}")}
        if rows.get("migration_mode", (None,))[0] != "src_only" or "second_side_failures" not in rows:
            raise CannotRun(f"`mode set src_only` did not create the control rows: {rows}")
        failures_before = int(rows["second_side_failures"][1])

        poison_every = 25
        for w in range(processes):
            writers.append(WriterProcess(writer_cmd, w + 1,
                                         ["--source", source_url, "--target", target_url, "--threads", str(threads),
                                          "--hold-ms", "20:40", "--poison-every", str(poison_every)],
                                         os.path.join(workdir, f"writer{w + 1}.jsonl"),
                                         os.path.join(workdir, f"writer{w + 1}.stderr")))
        for w in writers:
            w.wait_ready(60)

        snap_src, snap_dst = dbs.source(), dbs.target()
        snapshots = {}
        time.sleep(per_mode)
        for old, new in zip(MODES, MODES[1:]):
            t_call = time.time()
            t_returned, result = ctl.mode_set(new)
            s = notes(snap_src)
            d = notes(snap_dst)
            t_snap = time.time()
            if result and (result.get("to") != new or not result.get("changed", True)):
                raise CannotRun(f"`mode set {new}` did not switch: {result}")
            snapshots[new] = {"t": t_returned, "S": s, "D": d, "old": old}
            say(f"{old} -> {new}: returned after {t_returned - t_call:.3f}s "
                f"(waited {result.get('waited_seconds', 0):.3f}s for writers in flight); snapshot "
                f"{1000 * (t_snap - t_returned):.1f} ms later: source {len(s)} rows, target {len(d)} rows")
            if new == "dst_first":
                sampler = Sampler(dbs)
                sampler.start()
            time.sleep(per_mode)

        summaries = []
        for w in writers:
            rc, summary = w.stop(60)
            if rc != 0 or summary is None:
                violations.append(f"writer {w.worker_id} exited {rc} without its summary: {w.stderr_tail()}")
            else:
                summaries.append(summary)
        if sampler:
            sampler.stop_event.set()
            sampler.join(10)
            if sampler.error:
                raise CannotRun(f"the sampler failed: {sampler.error}")

        S, D = notes(snap_src), notes(snap_dst)
        tx_log = {}
        for w in writers:
            with open(w.log_path) as f:
                for line in f:
                    e = json.loads(line)
                    for i in e["ids"]:
                        tx_log[i] = e

        def describe(i):
            e = tx_log.get(i)
            body = S.get(i) or D.get(i)
            if not e:
                return f"row {i} ({body})"
            return (f"row {i} ({body}; writer {e['worker']} fenced at {e['fenced']:.3f}, released "
                    f"{e['released']:.3f})")

        # -- User writes, and writers in every mode --------------------------
        total = {m: sum(s["transactions"][m] for s in summaries) for m in MODES}
        failed = sum(s["failed"] for s in summaries)
        if failed:
            errors = [e for s in summaries for e in s["errors"]]
            violations.append(f"{failed} user writes failed: {errors[:5]}")
        for m in MODES:
            if total[m] < MIN_TRANSACTIONS_PER_MODE:
                violations.append(f"writers committed only {total[m]} transactions in {m}: "
                                  "the test did not exercise that mode")

        # -- The fence, by tags: no row of the old mode after the switch ------
        for new, snap in snapshots.items():
            old = snap["old"]
            for side, now_rows, then_rows in (("source", S, snap["S"]), ("target", D, snap["D"])):
                late = sorted(i for i, b in now_rows.items() if tag_mode(b) == old and i not in then_rows)
                for i in late[:10]:
                    violations.append(f"after `mode set {new}` returned at {snap['t']:.3f}, {describe(i)} "
                                      f"reached the {side}: a writer applied {old}")
                if len(late) > 10:
                    violations.append(f"... and {len(late) - 10} more {old} rows on the {side}")

        # -- src_only -> src_first: the source-only set never gains members ---
        def counted_failure(i, body, mode):
            return tag_mode(body) == mode and poisoned(body)

        snap = snapshots["src_first"]
        at_switch = snap["S"].keys() - snap["D"].keys()
        at_end = {i for i in S.keys() - D.keys() if not counted_failure(i, S[i], "src_first")}
        for i in sorted(at_end - at_switch)[:10]:
            violations.append(f"{describe(i)} is on the source only, and was not when `mode set src_first` "
                              "returned: a writer wrote the source alone (src_only) after the switch")
        if not at_end:
            violations.append("no row was written in src_only: the test did not exercise the first switch")

        # -- src_first -> dst_first: no source-first write after the switch ---
        t2 = snapshots["dst_first"]["t"]
        seen = dict(sampler.source_only) if sampler else {}
        for i, b in snapshots["dst_first"]["S"].items():  # the snapshot is one more sample
            if i not in snapshots["dst_first"]["D"]:
                seen.setdefault(i, (b, t2))
        bad = sorted(i for i, (b, t) in seen.items()
                     if tag_mode(b) != "src_only" and not counted_failure(i, b, "src_first"))
        for i in bad[:10]:
            b, t = seen[i]
            violations.append(f"{describe(i)} was on the source but not the target at {t:.3f}, after `mode set "
                              f"dst_first` returned at {t2:.3f}: a writer wrote the source first (src_first)")
        say(f"sampler: {sampler.samples if sampler else 0} source-then-target reads after the dst_first switch")

        # -- dst_first -> dst_only: the source never grows again --------------
        snap = snapshots["dst_only"]
        for i in sorted(S.keys() - snap["S"].keys())[:10]:
            violations.append(f"{describe(i)} reached the source after `mode set dst_only` returned at "
                              f"{snap['t']:.3f}: a writer still wrote the source (dst_first)")

        # -- Every row on the sides of its mode --------------------------------
        misplaced = []
        for i in sorted(S.keys() | D.keys()):
            body = S.get(i) or D.get(i)
            m = tag_mode(body)
            on_s, on_d = i in S, i in D
            if m == "src_only":
                ok = on_s and not on_d
            elif m == "dst_only":
                ok = on_d and not on_s
            elif m == "src_first":
                ok = (on_s and not on_d) if poisoned(body) else (on_s and on_d)
            elif m == "dst_first":
                ok = (on_d and not on_s) if poisoned(body) else (on_s and on_d)
            else:
                ok = False
            if ok and on_s and on_d and S[i] != D[i]:
                ok = False
            if not ok:
                misplaced.append(f"{describe(i)}: on the source {on_s}, on the target {on_d}")
        violations.extend(misplaced[:10])

        # -- Second-side failures: counted in the control row ----------------
        expected = sum(1 for i, b in S.items() if tag_mode(b) == "src_first" and b.endswith(":x")) + \
            sum(1 for i, b in D.items() if tag_mode(b) == "dst_first" and b.endswith(":x"))
        made = sum(s["second_side_failures"] for s in summaries)
        recorded = sum(s["recorded_failures"] for s in summaries)
        (count, utime), = query(src, f"SELECT version, utime FROM {CONTROL} WHERE name = 'second_side_failures'")
        counted = int(count) - failures_before
        status = json.loads([ln for ln in ctl.run(["migrate", "status", "--source", source_url]).stdout.splitlines()
                             if ln.startswith("{")][-1])
        if expected == 0:
            violations.append("no second-side failure happened: the failure path was not exercised")
        if made != expected:
            violations.append(f"the writers met {made} second-side failures, {expected} expected (one per ':x' "
                              "row of a double-write mode)")
        if recorded != made or counted != made:
            violations.append(f"{made} second-side failures, {recorded} recorded by the writers, the control "
                              f"row counts {counted}")
        if int(status.get("second_side_failures", -1)) != int(count):
            violations.append(f"`migrate status` reports {status.get('second_side_failures')} second-side "
                              f"failures, the control row holds {count}")
        t1 = datetime.datetime.fromtimestamp(snapshots["src_first"]["t"], datetime.timezone.utc).replace(tzinfo=None)
        if expected and not (utime >= t1 - datetime.timedelta(seconds=1)):
            violations.append(f"the control row's utime {utime} was not moved by the failures (after {t1} UTC)")

        mode_now = json.loads(ctl.run(["migrate", "mode", "get", "--source", source_url]).stdout.strip())
        if mode_now.get("mode") != "dst_only":
            violations.append(f"the mode is {mode_now}, not dst_only")

        say("transactions per mode: " + ", ".join(f"{m} {total[m]}" for m in MODES) +
            f"; rows: source {len(S)}, target {len(D)}; second-side failures {made} (control row +{counted}, "
            f"status {status.get('second_side_failures')})")
    finally:
        for w in writers:
            w.kill()
        if sampler:
            sampler.stop_event.set()
        if keep:
            say(f"kept databases {dbs.name} and the writers' logs in {workdir}")
        else:
            try:
                dbs.drop()
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

    if violations:
        for v in violations:
            print(f"fence_test: VIOLATION: {v}", file=sys.stderr)
        print(f"fence_test: FAIL: {len(violations)} violation(s) of docs/writer-protocol.md", file=sys.stderr)
        return 1
    say("PASS: no writer applied the old mode after any switch returned")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CannotRun as e:
        print(f"fence_test: FAIL: {e}", file=sys.stderr)
        sys.exit(2)
