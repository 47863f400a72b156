#!/usr/bin/env python3
"""A double-writer that follows docs/writer-protocol.md, in another language.

Not linked to webookctl in any way: it talks to the databases with Debian's
python3-pymysql and python3-psycopg2 only, exactly as a Go or Java service
would with its own drivers. tests/conformance/fence_test.py runs several of
these while `webookctl migrate mode set` switches the mode under them.

Each thread loops over write transactions until stdin reaches end of file:

    fence   BEGIN on the control connection; SELECT the mode row FOR SHARE
    sides   first/second side per mode (src_only: source; src_first: source
            then target; dst_first: target then source; dst_only: target)
    write   BEGIN both sides; each statement on the first side, then the
            second; hold the transaction 20-40 ms (switches then happen while
            writers are in flight); COMMIT the first side, then the second
    count   second-side failures of the transaction, inside the fence:
            UPDATE webookctl_control SET version = version + n, utime = now
            WHERE name = 'second_side_failures'
    release COMMIT the control transaction

Rows go to notes(id BIGINT PRIMARY KEY, body VARCHAR(64) NOT NULL) on both
sides, with client-made snowflake ids. The body says the mode the writer
applied, "<mode>:<worker>.<thread>:<n>", so the driver can tell from the
databases alone which rows were written under which mode. Every
--poison-every'th transaction writes two rows, "...:<n>:x" and then
"...:<n>:y"; the driver makes ":x" rows of a double-write mode fail on the
second side (a CHECK constraint), to exercise the failure path: the failure
is counted, the rest of the transaction (the ":y" row) skips the second
side, and the user's write still succeeds.

usage: writer.py --source URL --target URL [--control URL] --worker-id N
                 [--threads 4] [--hold-ms 20:40] [--commit-gap-ms 1:5]
                 [--poison-every 0] [--log FILE]
URLs are mysql://user@host:port/db or postgres://user@host:port/db; the
password comes from WEBOOKCTL_SOURCE_PASSWORD (source and control) or
WEBOOKCTL_TARGET_PASSWORD (target), else WEBOOKCTL_PASSWORD, as for
webookctl. Prints "ready" once every thread has its connections, then, after
stdin closes and the transactions in flight finished, one JSON line:
{"worker": N, "transactions": {mode: n}, "failed": n, "errors": [...],
 "second_side_failures": n, "recorded_failures": n}.
--log FILE gets one JSON line per transaction (ids, mode, times), for
diagnosing a violation.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.parse

try:
    import psycopg2
    import pymysql
except ImportError as e:  # a missing module is a failure, never a skip
    sys.exit(f"writer.py: {e}: install python3-pymysql and python3-psycopg2 (scripts/setup.sh)")

CONTROL_TABLE = "webookctl_control"
MODE_ROW = "migration_mode"
FAILURES_ROW = "second_side_failures"
MODES = ("src_only", "src_first", "dst_first", "dst_only")
RETRY_AFTER = 1.0  # seconds a second side rests after a lost connection


# -- Engines -----------------------------------------------------------------

class MySQL:
    name = "mysql"
    begin = "START TRANSACTION"
    # The fence: a shared lock on the mode row, held until COMMIT.
    fence = f"SELECT value, version, utime FROM `{CONTROL_TABLE}` WHERE name = %s LOCK IN SHARE MODE"
    count_failures = (f"UPDATE `{CONTROL_TABLE}` SET version = version + %s, utime = UTC_TIMESTAMP(6) "
                      "WHERE name = %s")
    insert_note = "INSERT INTO `notes` (`id`, `body`) VALUES (%s, %s)"

    @staticmethod
    def connect(dsn):
        conn = pymysql.connect(host=dsn["host"], port=dsn["port"], user=dsn["user"], password=dsn["password"],
                               database=dsn["database"], autocommit=True, charset="utf8mb4",
                               connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
        return conn

    @staticmethod
    def lost_connection(e):
        if isinstance(e, pymysql.err.InterfaceError):
            return True
        if isinstance(e, pymysql.err.OperationalError):
            # Server gone / lost / lost (extended), connection killed, server
            # shutdown. Anything else -- a constraint, a deadlock (1213), a
            # lock wait timeout (1205) -- leaves the session usable.
            return bool(e.args) and e.args[0] in (2006, 2013, 2055, 1927, 1053)
        return isinstance(e, (OSError, EOFError))


class Postgres:
    name = "postgres"
    begin = "BEGIN"
    fence = f'SELECT value, version, utime FROM "{CONTROL_TABLE}" WHERE name = %s FOR SHARE'
    count_failures = (f'UPDATE "{CONTROL_TABLE}" SET version = version + %s, '
                      "utime = (clock_timestamp() AT TIME ZONE 'UTC') WHERE name = %s")
    insert_note = 'INSERT INTO "notes" ("id", "body") VALUES (%s, %s)'

    @staticmethod
    def connect(dsn):
        conn = psycopg2.connect(host=dsn["host"], port=dsn["port"], user=dsn["user"], password=dsn["password"],
                                dbname=dsn["database"], connect_timeout=5, options="-c TimeZone=UTC",
                                application_name="writer-conformance")
        conn.autocommit = True  # transactions are explicit BEGIN ... COMMIT
        return conn

    @staticmethod
    def lost_connection(e):
        if isinstance(e, psycopg2.InterfaceError):
            return True
        if not isinstance(e, psycopg2.Error):
            return isinstance(e, (OSError, EOFError))
        # Errors the server reported carry an SQLSTATE; a dead connection has
        # none, or class 08 (connection exception), or 57P01-57P03 (shutdown).
        code = getattr(e, "pgcode", None)
        if code is None:
            return isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError))
        return code.startswith("08") or code in ("57P01", "57P02", "57P03")


def parse_dsn(url, role):
    u = urllib.parse.urlsplit(url)
    engine = {"mysql": MySQL, "mariadb": MySQL, "postgres": Postgres, "postgresql": Postgres}.get(u.scheme)
    if engine is None:
        raise SystemExit(f"writer.py: unsupported DSN scheme in {url!r} (mysql:// or postgres://)")
    password = urllib.parse.unquote(u.password) if u.password else None
    if password is None:
        for var in (f"WEBOOKCTL_{role.upper()}_PASSWORD", "WEBOOKCTL_PASSWORD"):
            if os.environ.get(var):
                password = os.environ[var]
                break
    return {"engine": engine, "host": u.hostname or "127.0.0.1", "port": u.port or (3306 if engine is MySQL else 5432),
            "user": urllib.parse.unquote(u.username or ""), "password": password or "",
            "database": u.path.lstrip("/")}


# -- Client-made ids (platform/ids.h) --------------------------------------------

class Snowflake:
    """ms since 2020-01-01 UTC << 22 | worker (10 bits) << 12 | sequence (12 bits)."""
    EPOCH_MS = 1577836800000

    def __init__(self, worker_id):
        if not 0 <= worker_id <= 1023:
            raise SystemExit("writer.py: --worker-id must be 0..1023")
        self.worker_id = worker_id
        self.last_ms = -1
        self.seq = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            ms = max(int(time.time() * 1000) - self.EPOCH_MS, self.last_ms)  # never backwards
            if ms == self.last_ms:
                self.seq += 1
                if self.seq >= 4096:  # run ahead of the clock
                    ms += 1
                    self.seq = 0
            else:
                self.seq = 0
            self.last_ms = ms
            return (ms << 22) | (self.worker_id << 12) | self.seq


# -- One side -------------------------------------------------------------------

class SideUnreachable(Exception):
    pass


class Side:
    """A lazily opened connection; a second side rests after a lost connection."""

    def __init__(self, dsn, name):
        self.dsn = dsn
        self.engine = dsn["engine"]
        self.name = name
        self.conn = None
        self.quiet_until = 0.0

    def get(self, second=False):
        if self.conn is None:
            if second and time.monotonic() < self.quiet_until:
                raise SideUnreachable(f"the {self.name} is unreachable (retrying shortly)")
            try:
                self.conn = self.engine.connect(self.dsn)
            except Exception:
                self.quiet_until = time.monotonic() + RETRY_AFTER
                raise
        return self.conn

    def run(self, sql, params=None, second=False):
        with self.get(second).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None

    def after_failure(self, e):
        if self.conn is not None and self.engine.lost_connection(e):
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None
            self.quiet_until = time.monotonic() + RETRY_AFTER

    def rollback_quietly(self):
        if self.conn is None:
            return
        try:
            self.run("ROLLBACK")
        except Exception as e:
            self.after_failure(e)


# -- The writer ----------------------------------------------------------------

class UserWriteFailed(Exception):
    pass


class Writer:
    def __init__(self, args, ids, log, name):
        self.args = args
        self.name = name  # "<worker>.<thread>", in every row's body
        self.ids = ids
        self.log = log
        self.source = Side(parse_dsn(args.source, "source"), "source")
        self.target = Side(parse_dsn(args.target, "target"), "target")
        self.control = Side(parse_dsn(args.control or args.source, "source"), "control database")
        self.transactions = {m: 0 for m in MODES}
        self.failed = 0
        self.errors = []
        self.second_side_failures = 0
        self.recorded_failures = 0
        self.unrecorded = 0
        self.n = 0

    def connect_all(self):
        for side in (self.control, self.source, self.target):
            side.get()

    def sides(self, mode):
        if mode == "src_only":
            return self.source, None
        if mode == "src_first":
            return self.source, self.target
        if mode == "dst_first":
            return self.target, self.source
        return self.target, None

    def second_failed(self, side, what, e, tx):
        # Logged and counted, never returned to the user; the rest of this
        # transaction skips the second side, which is rolled back.
        self.second_side_failures += 1
        self.unrecorded += 1
        print(f"writer {self.name}: second-side write to the {side.name} failed ({what}): "
              f"{str(e).strip()}", file=sys.stderr)
        side.after_failure(e)
        if tx["second_ok"]:
            tx["second_ok"] = False
            side.rollback_quietly()

    def transaction(self):
        self.n += 1
        poisoned = self.args.poison_every > 0 and self.n % self.args.poison_every == 0
        # 1. The fence: BEGIN on the control session, the mode row FOR SHARE
        # (docs/writer-protocol.md section 3; the steps are numbered as there).
        try:
            self.control.run(self.control.engine.begin)
            row = self.control.run(self.control.engine.fence, (MODE_ROW,))
        except Exception as e:
            self.control.after_failure(e)
            self.control.rollback_quietly()
            raise UserWriteFailed(f"cannot take the mode fence: {e}")
        t_fenced = time.time()
        if row is None or row[0] not in MODES:
            self.control.rollback_quietly()
            raise UserWriteFailed(f"no valid migration mode in the control table: {row!r}")
        mode = row[0]
        first, second = self.sides(mode)  # 2.
        tx = {"second_ok": second is not None}
        rows = []
        try:
            # 3. BEGIN both sides.
            try:
                first.run(first.engine.begin)
            except Exception as e:
                first.after_failure(e)
                raise UserWriteFailed(f"{first.name}: {e}")
            if tx["second_ok"]:
                try:
                    second.run(second.engine.begin, second=True)
                except Exception as e:
                    self.second_failed(second, "begin", e, tx)
            # 4. Each statement on the first side, then on the second.
            base = f"{mode}:{self.name}:{self.n}"
            bodies = [base + ":x", base + ":y"] if poisoned else [base]
            for body in bodies:
                note_id = self.ids.next()
                try:
                    first.run(first.engine.insert_note, (note_id, body))
                except Exception as e:
                    first.after_failure(e)
                    raise UserWriteFailed(f"{first.name}: {e}")
                if tx["second_ok"]:
                    try:
                        second.run(second.engine.insert_note, (note_id, body), second=True)
                    except Exception as e:
                        self.second_failed(second, f"notes id={note_id}", e, tx)
                rows.append(note_id)
            time.sleep(random.uniform(self.args.hold_min, self.args.hold_max) / 1000.0)  # a long transaction
            # 5. Commit the first side, then the second.
            try:
                first.run("COMMIT")
            except Exception as e:
                first.after_failure(e)
                raise UserWriteFailed(f"{first.name} commit: {e}")
            t_first = time.time()
            if tx["second_ok"]:
                # A second side a little further away: the moment only the
                # first side has committed is long enough for the driver to see.
                time.sleep(random.uniform(self.args.gap_min, self.args.gap_max) / 1000.0)
                try:
                    second.run("COMMIT", second=True)
                except Exception as e:
                    self.second_failed(second, "commit", e, tx)
        except UserWriteFailed:
            first.rollback_quietly()
            if tx["second_ok"]:
                tx["second_ok"] = False
                second.rollback_quietly()
            raise
        finally:
            # 6. Count second-side failures inside the fence, so a switch
            # waiting for this writer sees them when it checks its gate.
            self.flush_failures()
            # 7. Release the fence (also when the write failed).
            try:
                self.control.run("COMMIT")
            except Exception as e:
                self.control.after_failure(e)
            t_released = time.time()
        self.transactions[mode] += 1
        if self.log:
            self.log.write(json.dumps({"worker": self.name, "ids": rows, "mode": mode,
                                       "fenced": t_fenced, "first_commit": t_first, "released": t_released,
                                       "second_ok": tx["second_ok"] if second else None}) + "\n")

    def flush_failures(self):
        if self.unrecorded == 0:
            return
        try:
            self.control.run(self.control.engine.count_failures, (self.unrecorded, FAILURES_ROW))
            self.recorded_failures += self.unrecorded
            self.unrecorded = 0
        except Exception as e:  # kept, and added to the next transaction's count
            self.control.after_failure(e)
            print(f"writer {self.name}: could not record second-side failures: {e}", file=sys.stderr)

    def loop(self, stop):
        while not stop.is_set():
            try:
                self.transaction()
            except UserWriteFailed as e:
                self.failed += 1
                if len(self.errors) < 10:
                    self.errors.append(str(e))
                print(f"writer {self.name}: user write failed: {e}", file=sys.stderr)
                time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--control", help="where webookctl_control lives (default: the source)")
    p.add_argument("--worker-id", type=int, required=True, help="snowflake worker id, distinct per process")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--hold-ms", default="20:40", help="how long each transaction is held, min:max ms")
    p.add_argument("--commit-gap-ms", default="1:5",
                   help="pause between the first side's commit and the second's, min:max ms")
    p.add_argument("--poison-every", type=int, default=0)
    p.add_argument("--log")
    args = p.parse_args()
    args.hold_min, args.hold_max = (float(x) for x in args.hold_ms.split(":"))
    args.gap_min, args.gap_max = (float(x) for x in args.commit_gap_ms.split(":"))

    ids = Snowflake(args.worker_id)
    log = open(args.log, "a", buffering=1) if args.log else None
    writers = [Writer(args, ids, log, f"{args.worker_id}.{t}") for t in range(args.threads)]
    for w in writers:
        w.connect_all()
    stop = threading.Event()
    threads = [threading.Thread(target=w.loop, args=(stop,), daemon=True) for w in writers]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()  # runs until the driver closes our stdin
    stop.set()
    for t in threads:
        t.join()
    summary = {"worker": args.worker_id, "transactions": {m: sum(w.transactions[m] for w in writers) for m in MODES},
               "failed": sum(w.failed for w in writers), "errors": [e for w in writers for e in w.errors][:10],
               "second_side_failures": sum(w.second_side_failures for w in writers),
               "recorded_failures": sum(w.recorded_failures for w in writers)}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
