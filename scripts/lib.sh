# shellcheck shell=bash
# Helpers for the dev/test services (PostgreSQL 15 + Tansu, a Kafka-API broker).
# Sourced by scripts/services, scripts/test and scripts/dev.
#
# The public functions run their body in a subshell with `set -euo pipefail`
# (note the `( ... )` bodies), so sourcing this file never changes the
# caller's shell options and a failing step stops only that function.
# Bash ignores `set -e` inside a function called from `if`, `||` or `&&`,
# so call ensure_*/start_*/stop_all as plain commands.

CL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CL_DATA="$CL_ROOT/.data"

# Ports per purpose, distinct so a dev instance (maybe from another clone)
# and a test run never collide. All overridable from the environment.
CL_DEV_PG_PORT="${CL_DEV_PG_PORT:-${CL_PG_PORT:-54329}}"
CL_DEV_BROKER_PORT="${CL_DEV_BROKER_PORT:-19092}"
CL_TEST_PG_PORT="${CL_TEST_PG_PORT:-54339}"
CL_TEST_BROKER_PORT="${CL_TEST_BROKER_PORT:-19093}"

PG_BIN=/usr/lib/postgresql/15/bin
TANSU_VERSION=0.6.0
case ":$PATH:" in *":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;; *) PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;; esac

cl_log() { echo "[services] $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL refuses to run as root: run its tools as `postgres` when we are
# root. cd / first so they never trip over a cwd that postgres cannot read.
as_pg() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

# wait_for_port PORT [SECONDS]: true once 127.0.0.1:PORT accepts TCP.
wait_for_port() {
    local port=$1 deadline=$((SECONDS + ${2:-30}))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# proc_is NAME PID: PID is a live process named NAME. Zombies do not count:
# PID 1 of a container may be slow to reap, or never reap, a killed broker.
proc_is() {
    local stat
    stat=$(cat "/proc/$2/stat" 2>/dev/null) || return 1
    [[ $stat == "$2 ($1) "[!Z]* ]]
}

# ensure_apt_packages PKG...: install the missing ones (apt-get update only then).
ensure_apt_packages() (
    set -euo pipefail
    missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && exit 0
    cl_log "installing apt packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
)

# What the Rust workspace (rdkafka's bundled librdkafka, tansu, ...) needs to build.
ensure_build_deps() {
    ensure_apt_packages build-essential cmake pkg-config zlib1g-dev libssl-dev libcurl4-openssl-dev python3
}

# What the tests need beyond the build: a real SMTP server for the invite mail
# (Debian's aiosmtpd, run with /usr/bin/python3) and a real browser for the
# set-password page (Debian's Chromium and ChromeDriver).
ensure_test_deps() {
    ensure_apt_packages python3-aiosmtpd python3-venv chromium chromium-driver
    ensure_python_kafka
    ensure_vendor_sdks
}

# The vendors' own published clients, pinned, which the conformance tests run
# unchanged against the service: orq.ai's Python SDK (into the test venv) and
# its Node SDK (npm ci from tests/vendor-sdks/orq/package-lock.json, into a
# per-machine folder keyed by that lock file). Node.js and npm are the
# machine's.
# emnify's Python SDK goes into a venv of its own (it needs pydantic 1; orq.ai's
# needs pydantic 2).
ORQ_PY_SDK='orq-ai-sdk==3.14.45'
EMNIFY_PY_SDK='emnify-sdk==0.5.3'
CL_TEST_ORQ_NODE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/contact-ledger/orq-node"
CL_TEST_EMNIFY_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/contact-ledger/emnify-venv"
ensure_vendor_sdks() (
    set -euo pipefail
    local emnify
    emnify=$("$CL_TEST_EMNIFY_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("emnify-sdk"))' 2>/dev/null || true)
    if [ "emnify-sdk==$emnify" != "$EMNIFY_PY_SDK" ]; then
        cl_log "installing $EMNIFY_PY_SDK from PyPI into $CL_TEST_EMNIFY_VENV"
        rm -rf "$CL_TEST_EMNIFY_VENV"
        /usr/bin/python3 -m venv "$CL_TEST_EMNIFY_VENV"
        "$CL_TEST_EMNIFY_VENV/bin/pip" install -q "$EMNIFY_PY_SDK"
    fi
    ensure_python_kafka
    local have
    have=$("$CL_TEST_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("orq-ai-sdk"))' 2>/dev/null || true)
    if [ "orq-ai-sdk==$have" != "$ORQ_PY_SDK" ]; then
        cl_log "installing $ORQ_PY_SDK from PyPI into $CL_TEST_VENV"
        "$CL_TEST_VENV/bin/pip" install -q "$ORQ_PY_SDK"
    fi
    local lock="$CL_ROOT/tests/vendor-sdks/orq/package-lock.json"
    local want; want=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$(cat "$CL_TEST_ORQ_NODE_DIR/.lock-sha256" 2>/dev/null)" != "$want" ]; then
        cl_log "installing orq.ai's Node SDK (npm ci) into $CL_TEST_ORQ_NODE_DIR"
        rm -rf "$CL_TEST_ORQ_NODE_DIR"
        mkdir -p "$CL_TEST_ORQ_NODE_DIR"
        cp "$CL_ROOT/tests/vendor-sdks/orq/package.json" "$lock" "$CL_TEST_ORQ_NODE_DIR/"
        (cd "$CL_TEST_ORQ_NODE_DIR" && npm ci --silent --no-audit --no-fund)
        echo "$want" > "$CL_TEST_ORQ_NODE_DIR/.lock-sha256"
    fi
)

# A Python with confluent-kafka from PyPI (its wheel bundles a librdkafka 2.x;
# Debian's python3-confluent-kafka is built on librdkafka 2.0.2, which cannot
# talk to Tansu 0.6.0). The tests publish commands with it as a user's own
# client would: with librdkafka's default partitioner. Kept per machine.
CL_TEST_VENV="${CL_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/contact-ledger/venv}"
ensure_python_kafka() (
    set -euo pipefail
    "$CL_TEST_VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null && exit 0
    cl_log "installing confluent-kafka from PyPI into $CL_TEST_VENV"
    mkdir -p "$(dirname "$CL_TEST_VENV")"
    /usr/bin/python3 -m venv "$CL_TEST_VENV"
    "$CL_TEST_VENV/bin/pip" install -q 'confluent-kafka>=2.3,<3'
)

ensure_postgres_installed() (
    set -euo pipefail
    [ -x "$PG_BIN/postgres" ] && exit 0
    cl_log "installing PostgreSQL 15 from Debian"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
)

# The broker for dev and tests: one Tansu 0.6.0 binary with both storage
# engines and the project's patches (broker/README.md), built by broker/build
# once per machine into a folder keyed by the build script and the patches.
broker_key() { cat "$CL_ROOT/broker/build" "$CL_ROOT"/broker/patches/*.patch | sha256sum | cut -c1-16; }
CL_BROKER_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/contact-ledger"
TANSU_HOME="$CL_BROKER_CACHE/tansu-$TANSU_VERSION-$(broker_key)"
TANSU_BIN="$TANSU_HOME/bin/tansu"

tansu_ok() { [ -x "$TANSU_BIN" ] && "$TANSU_BIN" --version 2>/dev/null | grep -qx "tansu $TANSU_VERSION"; }

ensure_broker_built() (
    set -euo pipefail
    tansu_ok && exit 0
    # Two runs on a fresh machine (parallel CI jobs, dev and test) must not
    # both compile it: the second waits here, then finds the binary.
    mkdir -p "$CL_BROKER_CACHE"
    exec 9>"$CL_BROKER_CACHE/tansu.lock"
    flock 9
    tansu_ok && exit 0
    ensure_build_deps
    ensure_apt_packages curl ca-certificates patch
    cl_log "compiling the Kafka-API broker (Tansu $TANSU_VERSION with the patches in broker/; once per machine, ~11 minutes on 2 cores)"
    rm -rf "$TANSU_HOME"
    bash "$CL_ROOT/broker/build" "$TANSU_HOME"
    tansu_ok
)

# pg_home INSTANCE: the directory the `postgres` user keeps INSTANCE in.
# Normally .data/INSTANCE; when this clone sits below a directory postgres
# cannot enter (a `mktemp -d` is mode 700), a directory under /var/tmp named
# after the clone, linked from .data/INSTANCE.
pg_home() {
    local link="$CL_DATA/$1" real
    if [ -L "$link" ]; then
        readlink -f "$link"
        return
    fi
    mkdir -p "$link"
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$link"
    if as_pg test -w "$link"; then
        echo "$link"
        return
    fi
    rmdir "$link" 2>/dev/null || { cl_log "postgres cannot write $link, which is not empty"; return 1; }
    real="/var/tmp/contact-ledger-$(printf %s "$CL_DATA" | sha256sum | cut -c1-12)/$1"
    mkdir -p "$real"
    chmod 755 "$(dirname "$real")"
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$real"
    ln -sfn "$real" "$link"
    cl_log "postgres cannot enter $CL_DATA: $1 lives in $real"
    echo "$real"
}

# start_postgres INSTANCE PORT [durable|fast]
# A project-owned cluster in .data/INSTANCE (not Debian's `main` cluster),
# listening on 127.0.0.1:PORT only. `fast` turns off durability: test data only.
start_postgres() (
    set -euo pipefail
    name=$1 port=$2 mode=${3:-durable}
    url="postgres://postgres@127.0.0.1:$port"

    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
        # Ours from an earlier run, or the same purpose's instance of another clone.
        cl_log "PostgreSQL already running on 127.0.0.1:$port, reusing it"
    else
        ! port_open "$port" || { cl_log "port $port is taken by something that is not PostgreSQL"; exit 1; }
        mkdir -p "$CL_DATA/logs"
        dir=$(pg_home "$name")
        pgdata="$dir/data" log="$CL_DATA/logs/$name.log"
        [ "$dir" = "$CL_DATA/$name" ] || log="$dir/postgres.log"
        # Unix sockets are limited to ~107 bytes of path; fall back to /tmp for deep clones.
        sock="$dir/sock"
        [ ${#sock} -lt 90 ] || sock="/tmp/contact-ledger-pg-$port"
        as_pg mkdir -p "$sock"
        if [ ! -f "$pgdata/PG_VERSION" ]; then
            cl_log "initialising PostgreSQL cluster in $pgdata"
            as_pg "$PG_BIN/initdb" -D "$pgdata" -U postgres -E UTF8 --locale=C.UTF-8 --auth=trust >/dev/null
            {
                echo "listen_addresses = '127.0.0.1'"
                echo "max_connections = 300"
                if [ "$mode" = fast ]; then
                    echo "# test instance only: throwaway data, so skip durability"
                    echo "fsync = off"
                    echo "synchronous_commit = off"
                    echo "full_page_writes = off"
                fi
            } | as_pg tee -a "$pgdata/postgresql.conf" >/dev/null
            # Dev/test cluster on loopback only: trust, no passwords.
            printf '%s\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' |
                as_pg tee "$pgdata/pg_hba.conf" >/dev/null
        fi
        # Lock files left by a crash or reboot, whose pid is no (live) postgres: remove them.
        for lock in "$pgdata/postmaster.pid" "$sock/.s.PGSQL.$port.lock"; do
            pid=$(head -n1 "$lock" 2>/dev/null || true)
            if [ -n "$pid" ] && ! proc_is postgres "$pid"; then
                cl_log "removing stale $lock"
                rm -f "$lock" "${lock%.lock}"
            fi
        done
        touch "$log"
        [ "$(id -u)" != 0 ] || chown postgres:postgres "$log"
        cl_log "starting PostgreSQL $name on 127.0.0.1:$port (log: $log)"
        as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$log" -w -t 60 -o "-p $port -k '$sock'" start >/dev/null ||
            { tail -n 20 "$log" >&2; exit 1; }
    fi
    if [ -z "$("$PG_BIN/psql" "$url/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'contact_ledger'")" ]; then
        "$PG_BIN/psql" "$url/postgres" -qc 'CREATE DATABASE contact_ledger'
    fi
)

# ensure_tansu_schema PG_PORT: the `tansu` database of the cluster on PG_PORT,
# with upstream's schema for the PostgreSQL engine (broker/schema/).
ensure_tansu_schema() (
    set -euo pipefail
    url="postgres://postgres@127.0.0.1:$1"
    if [ -z "$("$PG_BIN/psql" "$url/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'tansu'")" ]; then
        "$PG_BIN/psql" "$url/postgres" -qc 'CREATE DATABASE tansu'
    fi
    if [ -z "$("$PG_BIN/psql" "$url/tansu" -tAc "SELECT to_regclass('public.record')")" ]; then
        cl_log "creating the broker's tables in database tansu"
        "$PG_BIN/psql" "$url/tansu" -q -v ON_ERROR_STOP=1 -f "$CL_ROOT/broker/schema/010-schema.sql" >/dev/null
    fi
)

# stop_broker_in DIR: stop the tansu whose pid DIR/pid holds (TERM, then KILL
# after 10 s), and forget the pid.
stop_broker_in() {
    local dir=$1 pid
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && proc_is tansu "$pid"; then
        cl_log "stopping tansu $(basename "$dir") (pid $pid)"
        kill "$pid"
        for _ in $(seq 50); do proc_is tansu "$pid" || break; sleep 0.2; done
        ! proc_is tansu "$pid" || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
}

# retire_sqlite_dev_broker: the dev broker ran Tansu's sqlite engine in
# .data/tansu-dev until 2026-11-30. Its log is not carried over, so the dev
# database built from it is renamed aside (both are kept, nothing is deleted)
# and the ledger starts afresh on the PostgreSQL engine.
retire_sqlite_dev_broker() (
    set -euo pipefail
    old="$CL_DATA/tansu-dev"
    [ -e "$old/tansu.db" ] || exit 0
    stop_broker_in "$old"
    aside="contact_ledger_sqlite_broker_$(date +%Y%m%d%H%M%S)"
    url="postgres://postgres@127.0.0.1:$1/postgres"
    "$PG_BIN/psql" "$url" -qc "ALTER DATABASE contact_ledger RENAME TO $aside" ||
        { cl_log "could not rename database contact_ledger (is a dev process still connected?)"; exit 1; }
    "$PG_BIN/psql" "$url" -qc 'CREATE DATABASE contact_ledger'
    mv "$old" "$CL_DATA/tansu-dev-sqlite.old"
    cl_log "the dev broker moved to Tansu's PostgreSQL engine: the old sqlite log is in"
    cl_log "  .data/tansu-dev-sqlite.old and the database built from it is now $aside;"
    cl_log "  the ledger starts empty (delete both once you do not need them)"
)

# start_broker INSTANCE PORT memory|postgres [PG_PORT]
# Tansu in .data/INSTANCE, bound and advertised on 127.0.0.1:PORT (its default
# 0.0.0.0:9092 listener is not wanted, and `localhost` may resolve to ::1).
# `postgres` keeps the log in the `tansu` database of the cluster on PG_PORT.
start_broker() (
    set -euo pipefail
    name=$1 port=$2 engine=$3
    dir="$CL_DATA/$name" log="$CL_DATA/logs/$name.log"
    case $engine in
        memory) storage=memory://tansu/ ;;
        postgres)
            storage="postgres://postgres@127.0.0.1:${4:?the PostgreSQL port}/tansu"
            ensure_tansu_schema "$4"
            ;;
        *) cl_log "unknown broker engine: $engine"; exit 1 ;;
    esac
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && proc_is tansu "$pid"; then
        if [ "$(readlink "/proc/$pid/exe")" != "$TANSU_BIN" ]; then
            cl_log "broker $name runs another build ($(readlink "/proc/$pid/exe")): restarting it"
            stop_broker_in "$dir"
        else
            wait_for_port "$port" 30 || { cl_log "broker $name (pid $pid) does not answer on port $port"; exit 1; }
            cl_log "broker $name already running on 127.0.0.1:$port"
            exit 0
        fi
    fi
    if port_open "$port"; then
        # Most likely the same purpose's broker of another clone: reuse it
        # when it is this build.
        owner=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
        [ -n "$owner" ] && proc_is tansu "$owner" || { cl_log "port $port is taken by a process that is not tansu"; exit 1; }
        [ "$(readlink "/proc/$owner/exe")" = "$TANSU_BIN" ] ||
            { cl_log "port $port is taken by another tansu build (pid $owner, $(readlink "/proc/$owner/exe")); stop it first"; exit 1; }
        cl_log "a tansu broker is already running on 127.0.0.1:$port, reusing it"
        exit 0
    fi
    mkdir -p "$dir" "$CL_DATA/logs"
    # Tansu loads a .env from its working directory; ours must not have one.
    [ ! -e "$dir/.env" ] || { cl_log "$dir/.env exists; tansu would load it. Remove it."; exit 1; }
    cl_log "starting tansu $name on 127.0.0.1:$port, storage $storage (log: $log)"
    cd "$dir"
    # setsid: the broker must outlive this shell and its process group (CI job, terminal).
    # env -u: tansu also reads these from the environment; keep the caller's out.
    setsid env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT -u CLUSTER_ID \
        "$TANSU_BIN" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "$storage" \
        </dev/null >>"$log" 2>&1 &
    echo $! >"$dir/pid"
    wait_for_port "$port" 30 || { cl_log "tansu did not open port $port"; tail -n 20 "$log" >&2; exit 1; }
)

# Stop every instance under this clone's .data (never other clones' services):
# the brokers first, as the dev broker keeps its log in PostgreSQL.
stop_all() (
    set -euo pipefail
    shopt -s nullglob
    for dir in "$CL_DATA"/*/; do
        dir=${dir%/}
        stop_broker_in "$dir"
    done
    for dir in "$CL_DATA"/*/; do
        dir=${dir%/}
        if [ -f "$dir/data/postmaster.pid" ]; then
            cl_log "stopping PostgreSQL $(basename "$dir")"
            as_pg "$PG_BIN/pg_ctl" -D "$(readlink -f "$dir")/data" -m fast -w stop >/dev/null || true
        fi
    done
)
