#!/usr/bin/env python3
"""Conformance test of docs/writer-protocol.md: a writer in another language.

Writers in other processes (tests/conformance/writer.py: Python with Debian's
python3-pymysql and python3-psycopg2, not linked to our code) double-write
while the real `webookctl migrate mode set` goes src_only -> src_first ->
dst_first -> dst_only under them, MariaDB source and PostgreSQL target.
`mode set` gets --target, so the mode row moves with the authoritative side:
it is in the source's control table in src_only/src_first and in the
target's from dst_first on. After each switch returns, the driver checks
that no writer applies the old mode ("once `mode set` returns, no writer
anywhere applies the old mode", docs/writer-protocol.md), as the C++ test
DoubleWrite.OnceTheSwitchReturnsNoWriterAppliesTheOldMode does for our own
double-write connection. The writers reach the source (data and control
sessions) through build/tests/webook-fault-proxy, which the driver uses to
take the source away; webookctl and the driver's own reads use the source
directly.

Every row's body names the mode its writer applied ("<mode>:<worker>.<thread>:<n>").
Checks, per switch from OLD to NEW (snapshots are taken the moment `mode set`
returns, reading the source, then the target):
  * tags:   the rows tagged OLD, on either side, are all there at the
            snapshot; none appears later.
  * src_only -> src_first: a row only the source has, that is not a counted
            second-side failure, was written in src_only. The set of such rows
            at the snapshot never gains members later.
  * src_first -> dst_first: from the snapshot on, no writer applies
            src_first, which commits the target before the source (a writer
            commits its second side first): a sampler reading the target,
            then the source, every few ms, never sees a row on the target
            only other than dst_only rows and counted second-side failures
            of dst_first (its poisoned rows, and the writes that missed the
            source while it was away).
            The mode row moved: the target's control row holds dst_first and
            the source's moved:target, at the same version; the source's
            second-side failure count never changes again.
  * in dst_first, the fence no longer reads the source's row: while the
            driver holds the source's mode row FOR UPDATE (0.5 s), every
            writer thread fences and commits transactions.
  * in dst_first, a source outage (~3 s: every connection through the proxy
            cut, new ones refused): no user write fails. A writer process
            started during it (it cannot reach the source's control table,
            and falls back to the target's row) writes during it. Its
            second-side failures -- the non-poisoned dst_first transactions
            that the writers' logs say missed the source -- are at least one,
            all fenced during the outage (give or take a second, and the
            second side's rest after it), and a dst_first row missing on the
            source is one of them; after it, the source takes second-side
            writes again.
  * dst_first -> dst_only: the source's set of ids never grows again. The
            target's control row holds dst_only (the source's still
            moved:target, at dst_first's version). Then the source is cut
            and refused until the end: writers go on writing in dst_only.
And at the end: every row sits on the sides its mode writes (src_only: source
only; src_first/dst_first: both, with the same body, but for the outage's
counted failures above; dst_only: target only); no user write or read
failed; writers ran in every mode; the second-side failures were each
counted with the exact UPDATE of the protocol, where the mode row was (the
switch to dst_first carries the source's count over to the target's control
table), so `migrate status` reports them and the mode row in the target: the
ones made on purpose (rows tagged ":x", which a CHECK constraint on the
second side rejects) one each, plus the outage's; the rest of such a
transaction (its ":y" row) skipped the second side.

A missing server, environment variable, binary or Python module is a
failure, never a skip. Exit 0 when conformant, 1 on a violation, 2 when the
test could not run.

Environment (`source .run/services.env`, see scripts/services.sh):
  WEBOOK_MYSQL_DSN, WEBOOK_PG_DSN   servers; throwaway databases are made there
  WEBOOKCTL_SOURCE_PASSWORD, WEBOOKCTL_TARGET_PASSWORD, WEBOOKCTL_PASSWORD
  WEBOOKCTL                         the binary (default: build/cli/webookctl)
  WEBOOK_FAULT_PROXY                the proxy (default:
                                    build/tests/webook-fault-proxy)
  WEBOOK_CONFORMANCE_WRITER         another writer to test (default: writer.py
                                    next to this file; *.py runs with this
                                    interpreter). It takes writer.py's flags,
                                    prints "ready" (also when it cannot reach
                                    the source), runs until its stdin closes,
                                    then prints writer.py's JSON line; its
                                    --log lines have writer.py's "worker",
                                    "ids", "mode", "fenced", "released" and
                                    "second_ok".
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
import signal  # noqa: E402
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
HOLD_SECONDS = 0.5  # the driver holds the source's mode row in dst_first
OUTAGE_SECONDS = 3.0  # the source outage in dst_first
RETRY_AFTER = 1.0  # a second side's rest after a lost connection (docs/writer-protocol.md section 5)


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
    def __init__(self, binary, source_url, target_url):
        self.binary = binary
        self.source_url = source_url
        self.target_url = target_url
        self.sides = ["--source", source_url, "--target", target_url]
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
        args = ["migrate", "mode", "set", mode] + self.sides + ["--lock-wait", "30s"]
        if mode != "src_only":
            args += self.force
        r = self.run(args)
        t_returned = time.time()
        lines = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("{")]
        result = json.loads(lines[-1]) if lines else {}
        return t_returned, result


class FaultProxy:
    """build/tests/webook-fault-proxy in front of a server: SIGUSR1 cuts every
    connection, SIGUSR2 toggles refusing new ones, SIGTERM stops it."""

    def __init__(self, binary, host, port, workdir):
        port_file = os.path.join(workdir, "proxy.port")
        self.err_path = os.path.join(workdir, "proxy.stderr")
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([binary, host, str(port), port_file], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.refusing = False
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                with open(self.err_path) as f:
                    raise CannotRun(f"{binary} did not start listening (exit {self.proc.poll()}): {f.read().strip()}")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read().strip())

    def _signal(self, sig):
        if self.proc.poll() is not None:
            raise CannotRun(f"the fault proxy exited {self.proc.returncode}")
        self.proc.send_signal(sig)
        time.sleep(0.05)  # it looks at its signals every 20 ms

    def take_away(self):
        """Cuts every connection and refuses new ones; cuts again whatever
        connected between the two."""
        self._signal(signal.SIGUSR1)
        if not self.refusing:
            self._signal(signal.SIGUSR2)
            self.refusing = True
        self._signal(signal.SIGUSR1)

    def give_back(self):
        if self.refusing:
            self._signal(signal.SIGUSR2)
            self.refusing = False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
    """Reads the target, then the source, over and over: a row the target has
    and the source lacks, at a moment when no writer should commit the target
    first, is recorded. (A writer commits its second side first: a src_first
    writer the target, then the source; a dst_first writer the source, then
    the target. Read in this order, a dst_first row seen on the target is on
    the source by the time the source is read.)"""

    def __init__(self, dbs):
        super().__init__(daemon=True)
        self.src, self.dst = dbs.source(), dbs.target()
        self.stop_event = threading.Event()
        self.samples = 0
        self.target_only = {}  # id -> (body, time seen)
        self.error = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                t = time.time()
                d = notes(self.dst)
                s = notes(self.src)
                self.samples += 1
                for i in d.keys() - s.keys():
                    self.target_only.setdefault(i, (d[i], t))
                time.sleep(0.003)
        except Exception as e:
            self.error = e


def tag_mode(body):
    return body.split(":", 1)[0]


def poisoned(body):
    return body.endswith(":x") or body.endswith(":y")


def control_rows(conn):
    return {n: (v, int(ver), ut) for n, v, ver, ut in query(conn, f"SELECT name, value, version, utime FROM {CONTROL}")}


def hold_source_mode_row(dbs, seconds):
    """Holds the source's mode row FOR UPDATE for `seconds`: a fence that
    reads it waits. Returns when the hold began and ended."""
    c = dbs.source()
    try:
        query(c, "START TRANSACTION")
        query(c, f"SELECT value FROM {CONTROL} WHERE name = 'migration_mode' FOR UPDATE")
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
        query(c, "COMMIT")
    finally:
        c.close()
    return t0, t1


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
    proxy_binary = os.environ.get("WEBOOK_FAULT_PROXY") or os.path.join(ROOT, "build", "tests", "webook-fault-proxy")
    if not os.access(proxy_binary, os.X_OK):
        raise CannotRun(f"no fault proxy at {proxy_binary} (build it, or set WEBOOK_FAULT_PROXY)")
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
    proxy = None
    violations = []
    try:
        dbs.create()
        source_url = url_for(my_dsn, dbs.name)
        target_url = url_for(pg_dsn, dbs.name)
        ctl = Webookctl(binary, source_url, target_url)
        proxy = FaultProxy(proxy_binary, my_dsn["host"], my_dsn["port"], workdir)
        writer_source_url = url_for(dict(my_dsn, host="127.0.0.1", port=proxy.port), dbs.name)
        say(f"databases {dbs.name} (MariaDB source, PostgreSQL target; the mode row moves from the source's "
            f"control table to the target's); webookctl {binary}; writer {' '.join(writer_cmd)}; "
            f"{processes}x{threads} writers, their source through {os.path.basename(proxy_binary)} on port "
            f"{proxy.port}; {'--force --reason on gated steps' if ctl.force else 'mode set has no --force (no gates yet)'}")

        # The control table and its rows: what `mode set src_only` makes.
        _, r = ctl.mode_set("src_only")
        src = dbs.source()
        rows = control_rows(src)
        if rows.get("migration_mode", (None,))[0] != "src_only" or "second_side_failures" not in rows:
            raise CannotRun(f"`mode set src_only` did not create the control rows: {rows}")
        failures_before = rows["second_side_failures"][1]

        poison_every = 25

        def start_writer(worker_id):
            w = WriterProcess(writer_cmd, worker_id,
                              ["--source", writer_source_url, "--target", target_url, "--threads", str(threads),
                               "--hold-ms", "20:40", "--poison-every", str(poison_every)],
                              os.path.join(workdir, f"writer{worker_id}.jsonl"),
                              os.path.join(workdir, f"writer{worker_id}.stderr"))
            writers.append(w)
            return w

        for w in range(processes):
            start_writer(w + 1)
        for w in writers:
            w.wait_ready(60)

        snap_src, snap_dst = dbs.source(), dbs.target()
        snapshots = {}
        events = {}  # what the driver did, when
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
            if new in ("dst_first", "dst_only"):
                # The mode row is in the target's control table now.
                at_src, at_dst = control_rows(snap_src), control_rows(snap_dst)
                src_row = at_src.get("migration_mode", (None, None))
                dst_row = at_dst.get("migration_mode", (None, None))
                if new == "dst_first":
                    events["moved_version"] = src_row[1]
                    events["source_failures_at_move"] = at_src.get("second_side_failures", (None, None))[1]
                if dst_row[0] != new:
                    violations.append(f"after `mode set {new}` the target's mode row holds {dst_row[0]!r} "
                                      f"(version {dst_row[1]}), not {new!r}")
                if src_row[0] != "moved:target" or src_row[1] != events["moved_version"] or \
                        (new == "dst_first" and dst_row[1] != src_row[1]):
                    violations.append(f"after `mode set {new}` the source's mode row holds {src_row[0]!r} at version "
                                      f"{src_row[1]} (the target's: {dst_row[0]!r} at {dst_row[1]}); expected "
                                      f"'moved:target' at the version of the move ({events['moved_version']})")
            if new == "dst_first":
                sampler = Sampler(dbs)
                sampler.start()
                # Writers found the home in the target: their fences must not
                # read the source's row any more.
                time.sleep(0.3)
                events["hold"] = hold_source_mode_row(dbs, HOLD_SECONDS)
                # The source goes away for a while; a writer process starts meanwhile.
                t_cut = time.time()
                proxy.take_away()
                late = start_writer(processes + 1)
                try:
                    late.wait_ready(OUTAGE_SECONDS)
                except CannotRun as e:  # a writer must start without the source from dst_first on
                    violations.append(f"while the source was away in dst_first, {e}")
                time.sleep(max(0.0, t_cut + OUTAGE_SECONDS - time.time()))
                t_back = time.time()  # before the signal: the proxy accepts again a little later
                proxy.give_back()
                events["outage"] = (t_cut, t_back)
                events["late"] = late.worker_id
                say(f"dst_first: held the source's mode row for {HOLD_SECONDS}s; the source was away for the "
                    f"writers for {events['outage'][1] - t_cut:.2f}s; writer {late.worker_id} started meanwhile")
                time.sleep(max(per_mode, 2 * RETRY_AFTER + 0.5))  # the source takes second-side writes again
            elif new == "dst_only":
                # The source is not needed any more: gone for good.
                events["gone"] = time.time()
                proxy.take_away()
                time.sleep(per_mode)
            else:
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
        entries = []
        for w in writers:
            with open(w.log_path) as f:
                for line in f:
                    e = json.loads(line)
                    e["process"] = w.worker_id
                    entries.append(e)
                    for i in e["ids"]:
                        tx_log[i] = e

        def describe(i):
            e = tx_log.get(i)
            body = S.get(i) or D.get(i)
            if not e:
                return f"row {i} ({body})"
            return (f"row {i} ({body}; writer {e['worker']} fenced at {e['fenced']:.3f}"
                    f"{' in the ' + e['place'] if e.get('place') else ''}, released {e['released']:.3f})")

        # -- User writes and reads, and writers in every mode ----------------
        total = {m: sum(s["transactions"][m] for s in summaries) for m in MODES}
        failed = sum(s["failed"] for s in summaries)
        failed_reads = sum(s.get("failed_reads", 0) for s in summaries)
        reads = sum(s.get("reads", 0) for s in summaries)
        if failed or failed_reads:
            errors = [e for s in summaries for e in s["errors"]]
            violations.append(f"{failed} user writes and {failed_reads} user reads failed: {errors[:5]}")
        for m in MODES:
            if total[m] < MIN_TRANSACTIONS_PER_MODE:
                violations.append(f"writers committed only {total[m]} transactions in {m}: "
                                  "the test did not exercise that mode")

        # -- The fence, by tags: no row of the old mode after the switch ------
        for new, snap in snapshots.items():
            old = snap["old"]
            for side, now_rows, then_rows in (("source", S, snap["S"]), ("target", D, snap["D"])):
                late_rows = sorted(i for i, b in now_rows.items() if tag_mode(b) == old and i not in then_rows)
                for i in late_rows[:10]:
                    violations.append(f"after `mode set {new}` returned at {snap['t']:.3f}, {describe(i)} "
                                      f"reached the {side}: a writer applied {old}")
                if len(late_rows) > 10:
                    violations.append(f"... and {len(late_rows) - 10} more {old} rows on the {side}")

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

        # -- src_first -> dst_first: no src_first commit order after the switch
        t2 = snapshots["dst_first"]["t"]
        seen = dict(sampler.target_only) if sampler else {}
        source_missed = {i for i, e in tx_log.items() if e["mode"] == "dst_first" and e["second_ok"] is False}
        bad = sorted(i for i, (b, t) in seen.items()
                     if tag_mode(b) != "dst_only" and not counted_failure(i, b, "dst_first")
                     and i not in source_missed)
        for i in bad[:10]:
            b, t = seen[i]
            violations.append(f"{describe(i)} was on the target but not the source at {t:.3f}, after `mode set "
                              f"dst_first` returned at {t2:.3f}: a writer committed the target first (src_first)")
        say(f"sampler: {sampler.samples if sampler else 0} target-then-source reads after the dst_first switch")

        # -- dst_first: the fence does not read the source's row --------------
        h0, h1 = events["hold"]
        thread_names = sorted({e["worker"] for e in entries if e["mode"] == "dst_first" and e["fenced"] < h0})
        for name in thread_names:
            n = sum(1 for e in entries if e["worker"] == name and h0 < e["fenced"] and e["released"] < h1)
            if n == 0:
                violations.append(f"writer thread {name} fenced no transaction from {h0:.3f} to {h1:.3f}, while "
                                  "the driver held the source's mode row FOR UPDATE in dst_first: its fence still "
                                  "reads the source's row (it should find the home where the last fence did)")
        if not thread_names:
            violations.append("no writer thread wrote in dst_first before the driver held the source's mode row")

        # -- dst_first: the source outage ------------------------------------
        t_cut, t_back = events["outage"]
        lo, hi = t_cut - 1.0, t_back + 2 * RETRY_AFTER
        late_in_outage = [e for e in entries if e["process"] == events["late"] and t_cut < e["fenced"] < t_back]
        if not late_in_outage:
            violations.append(f"writer {events['late']}, started while the source was away ({t_cut:.3f} to "
                              f"{t_back:.3f}), committed nothing meanwhile: with the mode row in the target, it "
                              "should write without the source")
        outage_tx = [e for e in entries if e["mode"] == "dst_first" and e["second_ok"] is False and len(e["ids"]) == 1]
        outage_ids = {i for e in outage_tx for i in e["ids"]}
        for e in outage_tx:
            if not lo <= e["fenced"] <= hi:
                violations.append(f"{describe(e['ids'][0])}: its second side (the source) failed at "
                                  f"{e['fenced']:.3f}, but the source was away only from {t_cut:.3f} to "
                                  f"{t_back:.3f}")
        if not outage_tx:
            violations.append(f"no dst_first write missed the source while it was away ({t_cut:.3f} to "
                              f"{t_back:.3f}): the writers' source sessions did not go through the proxy")
        after = [e for e in entries if e["mode"] == "dst_first" and e["fenced"] > hi and e["second_ok"]]
        if not after:
            violations.append(f"no dst_first write reached the source after it was back at {t_back:.3f}")

        # -- dst_first -> dst_only: the source never grows again --------------
        snap = snapshots["dst_only"]
        for i in sorted(S.keys() - snap["S"].keys())[:10]:
            violations.append(f"{describe(i)} reached the source after `mode set dst_only` returned at "
                              f"{snap['t']:.3f}: a writer still wrote the source (dst_first)")
        without_source = sum(1 for e in entries if e["mode"] == "dst_only" and e["fenced"] > events["gone"] + 0.2)
        if without_source < MIN_TRANSACTIONS_PER_MODE:
            violations.append(f"writers committed only {without_source} transactions in dst_only after the source "
                              f"went away at {events['gone']:.3f}: dst_only needs no source")

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
                # A write that missed the source while it was away: a counted failure.
                ok = (on_d and not on_s) if poisoned(body) else (on_d and (on_s or i in outage_ids))
            else:
                ok = False
            if ok and on_s and on_d and S[i] != D[i]:
                ok = False
            if not ok:
                misplaced.append(f"{describe(i)}: on the source {on_s}, on the target {on_d}")
        violations.extend(misplaced[:10])

        # -- Second-side failures: counted where the mode row is --------------
        on_purpose = sum(1 for i, b in S.items() if tag_mode(b) == "src_first" and b.endswith(":x")) + \
            sum(1 for i, b in D.items() if tag_mode(b) == "dst_first" and b.endswith(":x"))
        outage = len(outage_tx)
        made = sum(s["second_side_failures"] for s in summaries)
        recorded = sum(s["recorded_failures"] for s in summaries)
        dst = dbs.target()
        at_dst = control_rows(dst)
        dst.close()
        at_src = control_rows(src)
        count, utime = at_dst["second_side_failures"][1:] if "second_side_failures" in at_dst else (-1, None)
        counted = count - failures_before
        status = json.loads([ln for ln in ctl.run(["migrate", "status"] + ctl.sides).stdout.splitlines()
                             if ln.startswith("{")][-1])
        if on_purpose == 0:
            violations.append("no second-side failure happened on purpose: the failure path was not exercised")
        if made != on_purpose + outage:
            violations.append(f"the writers met {made} second-side failures, {on_purpose + outage} expected: one "
                              f"per ':x' row of a double-write mode ({on_purpose}) and one per write that missed "
                              f"the source while it was away ({outage})")
        if recorded != made or counted != made:
            violations.append(f"{made} second-side failures, {recorded} recorded by the writers, the target's "
                              f"control row counts {counted}")
        src_failures = at_src.get("second_side_failures", (None, None))[1]
        if src_failures != events["source_failures_at_move"]:
            violations.append(f"the source's second-side failure count went from "
                              f"{events['source_failures_at_move']} at the move to {src_failures}: a writer counted "
                              "there after the mode row had moved to the target")
        if int(status.get("second_side_failures", -1)) != count or status.get("mode_row") != "target":
            violations.append(f"`migrate status` reports {status.get('second_side_failures')} second-side "
                              f"failures and the mode row in the {status.get('mode_row')}; the target's control "
                              f"row holds {count}")
        t1 = datetime.datetime.fromtimestamp(snapshots["src_first"]["t"], datetime.timezone.utc).replace(tzinfo=None)
        if on_purpose and not (utime and utime >= t1 - datetime.timedelta(seconds=1)):
            violations.append(f"the control row's utime {utime} was not moved by the failures (after {t1} UTC)")

        mode_now = json.loads(ctl.run(["migrate", "mode", "get"] + ctl.sides).stdout.strip())
        if mode_now.get("mode") != "dst_only":
            violations.append(f"the mode is {mode_now}, not dst_only")

        say("transactions per mode: " + ", ".join(f"{m} {total[m]}" for m in MODES) +
            f" ({without_source} in dst_only without the source); reads {reads}; rows: source {len(S)}, "
            f"target {len(D)}; second-side failures {made} ({on_purpose} on purpose, {outage} while the source "
            f"was away; target's control row +{counted}, status {status.get('second_side_failures')})")
    finally:
        for w in writers:
            w.kill()
        if sampler:
            sampler.stop_event.set()
        if proxy:
            proxy.stop()
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
