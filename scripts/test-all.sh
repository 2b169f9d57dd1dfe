#!/usr/bin/env bash
# Runs every test suite of Confer, installing what is missing first:
#   formatting and lints, Rust unit and integration tests (SQLite and PostgreSQL), 30 s of
#   fuzzing per fuzz target, browser tests in Chromium.
# Works on a fresh Debian machine with only the Rust toolchain. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

step "Installing missing system packages"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v unshare >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v python3 >/dev/null || missing+=(python3)
command -v pg_isready >/dev/null || missing+=(postgresql-client)
# Redis for the multi-node tests (tests/cluster.rs, e2e/tests/cluster.test.mjs).
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
# coturn's client tools test the embedded TURN server (tests/coturn.rs); its daemon stays off.
command -v turnutils_uclient >/dev/null || missing+=(coturn)
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "all present"
fi
# Installing coturn may start its daemon on 3478 where a service manager runs: stop it.
if command -v systemctl >/dev/null && systemctl is-active --quiet coturn 2>/dev/null; then
    as_root systemctl disable --now coturn || true
fi

step "Firefox ESR and geckodriver for the cross-browser test"
# Debian's Firefox ESR; geckodriver from crates.io (it builds for a few minutes, once).
if ! [ -x /usr/bin/firefox-esr ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firefox-esr
fi
if ! command -v geckodriver >/dev/null && ! [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/geckodriver" ]; then
    cargo install geckodriver --locked
fi
echo "firefox: $(/usr/bin/firefox-esr --version 2>/dev/null), geckodriver: $(command -v geckodriver || echo "${CARGO_HOME:-$HOME/.cargo}/bin/geckodriver")"

step "PostgreSQL for the store tests"
# Tests create and drop their own databases on the server at CONFER_TEST_POSTGRES.
if [ -z "${CONFER_TEST_POSTGRES:-}" ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
        fi
        cluster=$(ls /etc/postgresql | sort -V | tail -1)
        as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 1
        done
    fi
    # A fresh Debian install asks for a password on TCP: give the postgres role a test one.
    if psql -h 127.0.0.1 -U postgres -w -c 'SELECT 1' postgres >/dev/null 2>&1; then
        export CONFER_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/postgres"
    else
        as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'confer-test'\"" >/dev/null
        export CONFER_TEST_POSTGRES="postgres://postgres:confer-test@127.0.0.1:5432/postgres"
    fi
fi
echo "using $CONFER_TEST_POSTGRES"

step "Redis for the multi-node tests"
# Tests use their own key prefix on the Redis at CONFER_TEST_REDIS and delete it afterwards;
# the Redis-restart test and the browser suite (in its own network namespace) run their own
# redis-server.
if [ -z "${CONFER_TEST_REDIS:-}" ]; then
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
            --dir /tmp --logfile /tmp/confer-test-redis.log
        for _ in $(seq 1 30); do
            redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
            sleep 0.2
        done
    fi
    export CONFER_TEST_REDIS="redis://127.0.0.1:6379"
fi
echo "using $CONFER_TEST_REDIS"

step "An SMTP sink for the account browser tests (aiosmtpd)"
if python3 -c 'import aiosmtpd' 2>/dev/null; then
    export CONFER_PYTHON=python3
elif python3 -m pip install --quiet --disable-pip-version-check aiosmtpd 2>/dev/null &&
    python3 -c 'import aiosmtpd' 2>/dev/null; then
    export CONFER_PYTHON=python3
else
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-aiosmtpd
    export CONFER_PYTHON=/usr/bin/python3
fi
echo "using $CONFER_PYTHON"

for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "Rust unit and integration tests"
cargo test --all-targets

step "Fuzzing: each target for 20 s, starting from the committed corpus (a crash fails)"
# cargo-fuzz wants nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
for target in signaling_decode stun_decode websocket_frames; do
    # New inputs go to a scratch directory (the first one named): the committed corpus is
    # only read, so the working tree stays clean. Findings land in fuzz/artifacts/<target>/.
    scratch=$(mktemp -d)
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --fuzz-dir . "$scratch" "corpus/$target" -- \
        -max_total_time=20 -timeout=10 -print_final_stats=1)
    rm -rf "$scratch"
done

step "Benchmark smoke runs (tiny N, debug build; they print figures, assert nothing about timing)"
# `cargo test --all-targets` built target/debug/confer and confer-bench (the integration tests
# run them); a separate `cargo build` would rebuild both with other dependency features.
target/debug/confer-bench --clients 20 --mode burst --duration 60
target/debug/confer-bench --clients 20 --mode paced --rate 50 --duration 60
target/debug/confer-bench --clients 20 --mode idle --hold 2 --duration 60 --json
target/debug/confer-relay-floor --messages 2000
bench/startup.sh --bin target/debug/confer --runs 2

step "Browser tests (Chromium, in a private network namespace with loopback only)"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
export CONFER_BIN="$PWD/target/debug/confer"
# Inside the namespace the only interface is loopback, so WebRTC can only use 127.0.0.1:
# no test traffic can reach any other address.
if [ "$(id -u)" -eq 0 ]; then ns=(unshare --net); else ns=(unshare --net --map-root-user); fi
"${ns[@]}" sh -c 'ip link set lo up && cd e2e && npm test'

step "Browser call-setup benchmark smoke run (1 call, debug build, same loopback-only namespace; checks no figure)"
"${ns[@]}" sh -c 'ip link set lo up && node bench/call_setup.mjs --smoke --bin target/debug/confer --duration 120'

step "All suites passed"
