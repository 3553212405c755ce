#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs and starts what the tests
# need (PostgreSQL, Mosquitto), then formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The repository carries every fixture it needs: nothing may read a folder beside the checkout.
if git rev-parse --git-dir >/dev/null 2>&1 && git grep -nE '\.\./shared|shared/(data|reference)' -- ':!scripts/test.sh'; then
    echo "the lines above refer to ../shared, which a fresh clone lacks: copy what they need into tests/fixtures/" >&2
    exit 1
fi

need_pkgs=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v mosquitto >/dev/null 2>&1 || need_pkgs+=(mosquitto)
# The page tests drive Debian's Chromium; the front-end libraries come from npm.
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
# The API contract test runs schemathesis (PyPI) from a virtual environment.
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "==> installing ${need_pkgs[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
    echo "==> starting PostgreSQL"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    for v in $(ls /etc/postgresql 2>/dev/null); do
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
fi
if ! port_open 1883; then
    echo "==> starting Mosquitto"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
for _ in $(seq 1 60); do
    port_open 5432 && port_open 1883 && break
    sleep 1
done
port_open 5432 || { echo "PostgreSQL is not listening on 127.0.0.1:5432" >&2; exit 1; }
port_open 1883 || { echo "Mosquitto is not listening on 127.0.0.1:1883" >&2; exit 1; }

# The tests need a role that may CREATE DATABASE. Default: the postgres superuser over TCP
# (trust auth, as on the project's machines). A stock Debian cluster asks for a password on
# TCP, so there we give postgres a test password (only when we are root and it is local).
if [ -z "${MESHVIEW_TEST_POSTGRES:-}" ]; then
    MESHVIEW_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/postgres"
    if command -v psql >/dev/null 2>&1 && ! psql "$MESHVIEW_TEST_POSTGRES" -qAtc "SELECT 1" >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'meshview-test'" >/dev/null
            MESHVIEW_TEST_POSTGRES="postgres://postgres:meshview-test@127.0.0.1:5432/postgres"
        fi
    fi
fi
export MESHVIEW_TEST_POSTGRES

# schemathesis checks the served OpenAPI document (tests/api/contract.rs); pinned, and
# kept under target/ so a fresh clone builds it once.
SCHEMATHESIS_VERSION=4.32.5
ST_VENV="$PWD/target/schemathesis-$SCHEMATHESIS_VERSION"
if ! "$ST_VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "==> installing schemathesis $SCHEMATHESIS_VERSION (PyPI)"
    rm -rf "$ST_VENV"
    python3 -m venv "$ST_VENV"
    "$ST_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
export MESHVIEW_SCHEMATHESIS="$ST_VENV/bin/schemathesis"

echo "==> npm ci (front-end libraries and the browser-test driver, pinned by package-lock.json)"
npm ci --no-audit --no-fund

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo build (every binary: the API tests also run meshview-bench)"
cargo build --workspace --bins --locked
echo "==> cargo test"
cargo test --workspace --all-targets --locked
