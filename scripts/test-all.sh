#!/usr/bin/env bash
# Runs every test suite of Confer, installing what is missing first:
#   formatting and lints, Rust unit and integration tests, browser tests in Chromium.
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
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "all present"
fi
for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "Rust unit and integration tests"
cargo test --all-targets

step "Browser tests (Chromium, in a private network namespace with loopback only)"
cargo build --bin confer
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
export CONFER_BIN="$PWD/target/debug/confer"
# Inside the namespace the only interface is loopback, so WebRTC can only use 127.0.0.1:
# no test traffic can reach any other address.
if [ "$(id -u)" -eq 0 ]; then ns=(unshare --net); else ns=(unshare --net --map-root-user); fi
"${ns[@]}" sh -c 'ip link set lo up && cd e2e && npm test'

step "All suites passed"
