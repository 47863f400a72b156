#!/usr/bin/env python3
"""A double-writer that follows docs/writer-protocol.md, in another language.

Not linked to webookctl in any way: it talks to the databases with Debian's
python3-pymysql and python3-psycopg2 only, exactly as a Go or Java service
would with its own drivers. tests/conformance/fence_test.py runs several of
these while `webookctl migrate mode set` switches the mode under them.

Each thread loops over write transactions until stdin reaches end of file:

    fence   find the mode row's home and hold it: BEGIN on the control
            session of the place the last fence found it (the source at
            first); SELECT the mode row FOR SHARE; a bare mode is the home;
            `moved:<place>` (COMMIT, follow it, remembering its version) and
            `pending:<mode>` (applied only when a `moved:` row of the same
            version sent us there, else COMMIT and look in the other place)
            hop, at most 6 times; a source that cannot be reached (lost
            connection, cannot connect) is skipped once for the target's
            row, which is applied only if it is a bare mode
    sides   first/second side per mode (src_only: source; src_first: source
            then target; dst_first: target then source; dst_only: target)
    write   BEGIN both sides; each statement on the first side, then the
            second; hold the transaction 20-40 ms (switches then happen while
            writers are in flight); COMMIT the second side, then the first
            (the first side's row locks hold until the second has committed)
    count   second-side failures of the transaction, on the session holding
            the fence (the target's control table from dst_first on):
            UPDATE webookctl_control SET version = version + n, utime = now
            WHERE name = 'second_side_failures' (no row: INSERT it, again)
    release COMMIT the control transaction
    read    the transaction's last row, by id, from the first side of the
            mode read without a lock (the same hops, no FOR SHARE, no fence)

Each thread has four sessions: source and target for the data, and one
control session per place the mode row can be in -- the source's control
table (or --control's) and the target's (opened on first use). Without
--control the mode row moves with the authoritative side: the source's
webookctl_control in src_only/src_first, the target's from dst_first on
(core/migration/migration_mode.h). With --control it stays there. A control
session that lost its connection is dropped and reopened on next use. From
dst_first on, a write touches the source only as its second side, so a
writer that cannot reach the source (also one that starts meanwhile) still
writes.

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
webookctl. Prints "ready" once every thread has tried its connections (one
it cannot open is retried on use), then, after stdin closes and the
transactions in flight finished, one JSON line:
{"worker": N, "transactions": {mode: n}, "failed": n, "errors": [...],
 "second_side_failures": n, "recorded_failures": n, "reads": n,
 "failed_reads": n}.
--log FILE gets one JSON line per transaction (ids, mode, the place of the
row it fenced on, times, whether the second side took it), for diagnosing a
violation.
"""

import argparse
import datetime
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
PLACES = ("source", "target")
PENDING, MOVED = "pending:", "moved:"
MAX_HOPS = 6  # a move is two hops; more means switches keep moving the row
RETRY_AFTER = 1.0  # seconds a second side rests after a lost connection


# -- Engines -----------------------------------------------------------------

class MySQL:
    name = "mysql"
    begin = "START TRANSACTION"
    # The mode row; with the lock it is the fence, held until COMMIT.
    read_mode = f"SELECT value, version, utime FROM `{CONTROL_TABLE}` WHERE name = %s"
    fence = read_mode + " LOCK IN SHARE MODE"
    count_failures = (f"UPDATE `{CONTROL_TABLE}` SET version = version + %s, utime = UTC_TIMESTAMP(6) "
                      "WHERE name = %s")
    add_failures_row = (f"INSERT IGNORE INTO `{CONTROL_TABLE}` (name, value, version, utime) "
                        "VALUES (%s, 'count', 0, %s)")
    insert_note = "INSERT INTO `notes` (`id`, `body`) VALUES (%s, %s)"
    select_note = "SELECT `body` FROM `notes` WHERE `id` = %s"

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

    @staticmethod
    def missing_table(e):
        return isinstance(e, pymysql.err.MySQLError) and bool(e.args) and e.args[0] == 1146  # ER_NO_SUCH_TABLE


class Postgres:
    name = "postgres"
    begin = "BEGIN"
    read_mode = f'SELECT value, version, utime FROM "{CONTROL_TABLE}" WHERE name = %s'
    fence = read_mode + " FOR SHARE"
    count_failures = (f'UPDATE "{CONTROL_TABLE}" SET version = version + %s, '
                      "utime = (clock_timestamp() AT TIME ZONE 'UTC') WHERE name = %s")
    add_failures_row = (f'INSERT INTO "{CONTROL_TABLE}" (name, value, version, utime) '
                        "VALUES (%s, 'count', 0, %s) ON CONFLICT DO NOTHING")
    insert_note = 'INSERT INTO "notes" ("id", "body") VALUES (%s, %s)'
    select_note = 'SELECT "body" FROM "notes" WHERE "id" = %s'

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

    @staticmethod
    def missing_table(e):
        return isinstance(e, psycopg2.Error) and getattr(e, "pgcode", None) == "42P01"  # undefined_table


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


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


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


# -- One session -----------------------------------------------------------------

class SideUnreachable(Exception):
    """Connecting failed, or a second side is resting after a lost connection."""


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
            except Exception as e:
                self.quiet_until = time.monotonic() + RETRY_AFTER
                raise SideUnreachable(f"cannot connect to the {self.name}: {str(e).strip()}") from e
        return self.conn

    def run(self, sql, params=None, second=False):
        with self.get(second).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None

    def execute(self, sql, params=None):
        """Runs a statement; returns the number of rows it matched."""
        with self.get().cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def unreachable(self, e):
        """e says this session cannot be used: it could not connect, or it lost its connection."""
        return isinstance(e, SideUnreachable) or self.engine.lost_connection(e)

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


# -- The mode row, wherever it is -------------------------------------------------

class ControlError(Exception):
    """The control rows say no mode (missing, unknown, or disagreeing)."""


def parse_mode_row(value, version):
    """('mode', M, v), ('pending', M, v) or ('moved', place, v)."""
    if value in MODES:
        return "mode", value, version
    if value.startswith(PENDING) and value[len(PENDING):] in MODES:
        return "pending", value[len(PENDING):], version
    if value.startswith(MOVED) and value[len(MOVED):] in PLACES:
        return "moved", value[len(MOVED):], version
    raise ControlError(f"the migration mode row holds {value!r}, which this writer does not know "
                       "(a mode, 'pending:<mode>' or 'moved:source|target')")


def other(place):
    return "target" if place == "source" else "source"


class ControlRows:
    """One thread's control sessions: the source's control table (or
    --control's, where the row never moves) and the target's, opened on first
    use. Each is separate from the thread's data sessions: the fence is held on
    it until both sides have committed (core/migration/migration_mode.cpp,
    find_home and next_home_step, do the same)."""

    def __init__(self, args):
        if args.control:
            self.sessions = {"source": Side(parse_dsn(args.control, "source"), "control database")}
        else:
            self.sessions = {"source": Side(parse_dsn(args.source, "source"), "source's control table"),
                             "target": Side(parse_dsn(args.target, "target"), "target's control table")}
        self.movable = "target" in self.sessions
        self.cached_place = "source"  # where the last fence or read found the home

    def at(self, place):
        if place not in self.sessions:
            raise ControlError("the migration mode row moved to the target's control table, but this writer "
                               "reads it in a separate control database (--control)")
        return self.sessions[place]

    @staticmethod
    def read_row(side, lock):
        """The mode row at `side` (parsed), or None when the table or the row is
        missing. With `lock`: read FOR SHARE in a transaction begun here and
        left open when a row was found."""
        eng = side.engine
        try:
            if lock:
                side.run(eng.begin)
            row = side.run(eng.fence if lock else eng.read_mode, (MODE_ROW,))
            if row is None and lock:
                side.run("COMMIT")
        except Exception as e:
            side.after_failure(e)
            if lock:
                side.rollback_quietly()
            if not isinstance(e, SideUnreachable) and eng.missing_table(e):
                return None
            raise
        if row is None:
            return None
        try:
            return parse_mode_row(row[0], int(row[1]))
        except ControlError:
            if lock:
                side.rollback_quietly()
            raise

    @staticmethod
    def let_go(side, lock):
        """Ends the transaction holding a row that is not the home."""
        if not lock:
            return
        try:
            side.run("COMMIT")
        except Exception as e:
            side.after_failure(e)
            raise

    def find_home(self, lock):
        """(mode, session) of the home row; with `lock`, the row is held FOR
        SHARE in the session's open transaction (the fence). Raises when no
        mode can be applied: the user's write (or read) fails."""
        place = self.cached_place
        pointer = None  # the version of the `moved:` row that sent us here
        fell_back = False  # here because the source could not be reached
        source_error = None
        for _ in range(MAX_HOPS):
            side = self.at(place)
            try:
                row = self.read_row(side, lock)
            except Exception as e:
                if not side.unreachable(e):
                    raise
                # The target's row may be the home; only it can say so.
                if place == "source" and self.movable and pointer is None and not fell_back:
                    source_error, fell_back, place = e, True, "target"
                    continue
                raise source_error or e
            if row is None:
                if place == "source":
                    raise ControlError(f"no migration mode in the {side.name}: the control table "
                                       f"{CONTROL_TABLE} or its '{MODE_ROW}' row is missing")
                if pointer is not None:
                    raise ControlError(f"the source's mode row says it moved to the target at version {pointer}, "
                                       "but the target has no mode row")
                if fell_back:
                    raise source_error
                place = "source"  # the row never moved there
                continue
            kind, what, version = row
            if pointer is not None and version < pointer:
                self.let_go(side, lock)
                raise ControlError(f"the mode row in the {place} (version {version}) is older than the row that "
                                   f"points to it (version {pointer})")
            if kind == "mode" or (kind == "pending" and pointer == version):
                # A bare mode is always the home (it is written only after the
                # pointer to it); a pending one only with the pointer in hand.
                self.cached_place = place
                return what, side
            self.let_go(side, lock)
            if fell_back:  # only the source can say where the home is
                raise source_error
            if kind == "pending":  # the switch writing it has not happened (yet)
                place, pointer = other(place), None
            else:
                if what == place:
                    raise ControlError(f"the mode row in the {place} says it moved to the {place}")
                place, pointer = what, version
        raise ControlError(f"the migration mode row moved more than {MAX_HOPS} times while being read "
                           "(switches in progress)")


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
        self.control = ControlRows(args)
        self.transactions = {m: 0 for m in MODES}
        self.failed = 0
        self.errors = []
        self.second_side_failures = 0
        self.recorded_failures = 0
        self.unrecorded = 0
        self.reads = 0
        self.failed_reads = 0
        self.n = 0

    def connect_all(self):
        # The target's control session opens on first use. A session that
        # cannot be opened now is retried when used: from dst_first on, a
        # writer must start (and write) while the source is down.
        for side in (self.control.at("source"), self.source, self.target):
            try:
                side.get()
            except Exception as e:
                print(f"writer {self.name}: {e} (retried on use)", file=sys.stderr)

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
        # 1. The fence: the mode row's home FOR SHARE, in a transaction on
        # that place's control session (docs/writer-protocol.md section 3;
        # the steps are numbered as there).
        try:
            mode, fence = self.control.find_home(lock=True)
        except Exception as e:
            raise UserWriteFailed(f"cannot take the mode fence: {str(e).strip()}")
        place = self.control.cached_place
        t_fenced = time.time()
        first, second = self.sides(mode)  # 2.
        tx = {"second_ok": second is not None}
        second_committed = False
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
            # 5. Commit the second side, then the first: the first side's row
            # locks hold until the second side has committed, so a writer the
            # first side admits next finds these rows on the second side too.
            if tx["second_ok"]:
                try:
                    second.run("COMMIT", second=True)
                    second_committed = True
                except Exception as e:
                    self.second_failed(second, "commit", e, tx)
                # A first side a little further away: the moment only the
                # second side has committed is long enough for the driver to see.
                time.sleep(random.uniform(self.args.gap_min, self.args.gap_max) / 1000.0)
            try:
                first.run("COMMIT")
            except Exception as e:
                first.after_failure(e)
                if second_committed:  # the second side holds a write the first lacks: count it
                    self.second_side_failures += 1
                    self.unrecorded += 1
                    print(f"writer {self.name}: the {second.name} committed a write the {first.name} then "
                          f"failed to commit: {str(e).strip()}", file=sys.stderr)
                raise UserWriteFailed(f"{first.name} commit: {e}")
            t_first = time.time()
        except UserWriteFailed:
            first.rollback_quietly()
            if tx["second_ok"] and not second_committed:
                tx["second_ok"] = False
                second.rollback_quietly()
            raise
        finally:
            # 6. Count second-side failures inside the fence, on its session
            # (where the mode row is), so a switch waiting for this writer
            # sees them when it checks its gate.
            self.flush_failures(fence)
            # 7. Release the fence (also when the write failed).
            try:
                if fence.conn is None:
                    raise SideUnreachable(f"the {fence.name} lost its connection")
                fence.run("COMMIT")
            except Exception as e:
                fence.after_failure(e)
                print(f"writer {self.name}: releasing the mode fence failed, it may not have covered the end "
                      f"of this transaction: {e}", file=sys.stderr)
            t_released = time.time()
        self.transactions[mode] += 1
        if self.log:
            self.log.write(json.dumps({"worker": self.name, "ids": rows, "mode": mode, "place": place,
                                       "fenced": t_fenced, "first_commit": t_first, "released": t_released,
                                       "second_ok": tx["second_ok"] if second else None}) + "\n")
        return rows[-1]

    def flush_failures(self, fence):
        if self.unrecorded == 0:
            return
        eng = fence.engine
        try:
            if fence.conn is None:  # lost with the fence: counted with the next one, never outside a fence
                raise SideUnreachable(f"the {fence.name} lost its connection")
            if fence.execute(eng.count_failures, (self.unrecorded, FAILURES_ROW)) == 0:
                # A control table from before the row existed.
                fence.execute(eng.add_failures_row, (FAILURES_ROW, utc_now()))
                if fence.execute(eng.count_failures, (self.unrecorded, FAILURES_ROW)) == 0:
                    raise ControlError(f"no '{FAILURES_ROW}' row in the {fence.name} after adding it")
            self.recorded_failures += self.unrecorded
            self.unrecorded = 0
        except Exception as e:  # kept, and added to the next transaction's count
            fence.after_failure(e)
            print(f"writer {self.name}: could not record second-side failures: {e}", file=sys.stderr)

    def read(self, note_id):
        """A user read outside a transaction: the mode read without a lock
        (following the row where it moved), then the first side only."""
        side = None
        try:
            mode, _ = self.control.find_home(lock=False)
            side = self.sides(mode)[0]
            side.run(side.engine.select_note, (note_id,))
            self.reads += 1
        except Exception as e:
            if side is not None:
                side.after_failure(e)
            self.failed_reads += 1
            if len(self.errors) < 10:
                self.errors.append(f"read: {str(e).strip()}")
            print(f"writer {self.name}: user read failed: {e}", file=sys.stderr)

    def loop(self, stop):
        while not stop.is_set():
            try:
                last = self.transaction()
            except UserWriteFailed as e:
                self.failed += 1
                if len(self.errors) < 10:
                    self.errors.append(str(e))
                print(f"writer {self.name}: user write failed: {e}", file=sys.stderr)
                time.sleep(0.05)
                continue
            self.read(last)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--control", help="a separate control database, where the mode row stays (default: the row is "
                                     "in the source's control table, and in the target's from dst_first on)")
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
               "recorded_failures": sum(w.recorded_failures for w in writers),
               "reads": sum(w.reads for w in writers), "failed_reads": sum(w.failed_reads for w in writers)}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
