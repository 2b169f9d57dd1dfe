#!/usr/bin/env bash
# Start-up benchmark: time from process start to the first HTTP 200 on /healthz, and the
# server's idle RSS one second after it is ready.
#
#   bench/startup.sh [--bin PATH] [--runs N]
#
# Default binary: target/release/confer (build it with `cargo build --release --bin confer`).
# The first run starts on an empty data_dir (creates the SQLite database, runs migrations,
# generates the TURN secret); the others reuse it. Everything listens on 127.0.0.1 only.
# A small Python helper starts the server and polls every millisecond (curl in a loop would
# spend more time starting curl than the server spends starting).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/confer
runs=5
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--bin PATH] [--runs N]" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no executable at $bin (cargo build --release --bin confer)" >&2; exit 1; }
case "$runs" in '' | *[!0-9]*) echo "--runs must be a number" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] && [ "$runs" -le 50 ] || { echo "--runs must be 1..50" >&2; exit 2; }

data_dir=$(mktemp -d /tmp/confer-startup.XXXXXX)
trap 'rm -rf "$data_dir"' EXIT

python3 - "$bin" "$runs" "$data_dir" <<'EOF'
import socket, statistics, subprocess, sys, time

bin_path, runs, data_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def healthz(port):
    """True when GET /healthz answers 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None

results = []
for run in range(runs):
    port = free_port()
    cmd = [bin_path, "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
           "--turn-listen", "127.0.0.1:0"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = None
    try:
        deadline = t0 + 10.0  # bounded: give up after 10 s
        while time.perf_counter() < deadline:
            if healthz(port):
                ready = time.perf_counter() - t0
                break
            if proc.poll() is not None:
                break
            time.sleep(0.001)
        rss = None
        if ready is not None:
            time.sleep(1.0)
            rss = rss_kb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if ready is None:
        print(f"run {run + 1}: not ready within 10 s (exit code {proc.returncode})")
        sys.exit(1)
    kind = "empty data_dir" if run == 0 else "existing data_dir"
    print(f"run {run + 1} ({kind}): ready in {ready * 1000:.1f} ms, idle RSS {rss} KiB")
    results.append((ready, rss))

warm = results[1:] or results
print(f"binary: {bin_path}")
print(f"first start (empty data_dir): ready {results[0][0] * 1000:.1f} ms")
print(f"median start, existing data_dir ({len(warm)} runs): ready "
      f"{statistics.median(r for r, _ in warm) * 1000:.1f} ms, "
      f"idle RSS {statistics.median(m for _, m in warm):.0f} KiB")
EOF
