#!/usr/bin/env bash
# Builds MeshView's container image (Containerfile) without any image registry, then runs
# it and checks it: the base images are made from Debian's packages with debootstrap and
# imported, the crates are vendored and the page libraries installed beside the sources,
# so only Debian's mirror is contacted (by debootstrap, once) and the build itself runs
# offline. Uses podman, or docker when podman is absent. Run as root (debootstrap).
#
#   scripts/container.sh            # build localhost/meshview:latest and smoke-test it
#   SUITE=trixie scripts/container.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$ENGINE" ] || { echo "needs podman or docker" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=${WORK:-$PWD/target/container}
BASE=localhost/meshview-base:$SUITE
BUILDER=localhost/meshview-builder:$SUITE
IMAGE=${IMAGE:-localhost/meshview:latest}
PATH_IN=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$WORK"

have_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }
step() { echo "==> [$(date +%H:%M:%S)] $*"; }

# 1. The runtime base: Debian minbase (no compiler, no package caches).
if ! have_image "$BASE"; then
    step "debootstrap $SUITE (minbase) for the runtime image"
    rm -rf "$WORK/base"
    debootstrap --variant=minbase "$SUITE" "$WORK/base" "$MIRROR"
    rm -rf "$WORK/base/var/cache/apt/archives/"*.deb "$WORK/base/var/lib/apt/lists/"*
    tar -C "$WORK/base" -c . | "$ENGINE" import --change "ENV PATH=$PATH_IN" - "$BASE"
fi

# 2. The builder: the same base with a C toolchain (for SQLite and ring) and this
#    machine's Rust toolchain (no documentation), since no Rust image is reachable.
if ! have_image "$BUILDER"; then
    step "debootstrap $SUITE with gcc for the build image"
    rm -rf "$WORK/builder"
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates "$SUITE" \
        "$WORK/builder" "$MIRROR"
    sysroot=$(rustc --print sysroot)
    step "copying the Rust toolchain from $sysroot"
    mkdir -p "$WORK/builder/usr/local/rust"
    tar -C "$sysroot" --exclude=./share/doc -c . | tar -C "$WORK/builder/usr/local/rust" -x
    rm -rf "$WORK/builder/var/cache/apt/archives/"*.deb "$WORK/builder/var/lib/apt/lists/"*
    tar -C "$WORK/builder" -c . | "$ENGINE" import --change "ENV PATH=$PATH_IN" - "$BUILDER"
fi

# 3. Sources for an offline build: the crates vendored, the page libraries installed.
step "vendoring crates and installing the page libraries"
cargo vendor --locked --quiet vendor >/dev/null
[ -f node_modules/leaflet/dist/leaflet.js ] || npm ci --no-audit --no-fund

# 4. The image.
step "building $IMAGE with $ENGINE"
# podman: chroot isolation for the build steps, which needs no cgroups (some VMs, this
# project's among them, cannot give an OCI runtime what it asks for).
# With chroot isolation the steps share the host's network; nothing in them uses it (the
# crates are vendored, the libraries installed), elsewhere the network is off.
isolation=(--network=none)
case "$ENGINE" in *podman) isolation=(--isolation=chroot) ;; esac
"$ENGINE" build "${isolation[@]}" -f Containerfile \
    --build-arg BUILDER="$BUILDER" --build-arg BASE="$BASE" \
    --build-arg GIT_REVISION="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
    -t "$IMAGE" .
rm -rf vendor  # only the build needed it
"$ENGINE" image inspect --format '{{.Size}}' "$IMAGE" |
    awk '{printf "==> image size: %.1f MB\n", $1 / 1e6}'

# 5. Smoke test: the simulated mesh (no broker) into the volume, as the unprivileged
#    user; /health and a page answer on the published port, and the data survives a
#    restart of the container. Where the engine cannot run containers at all (an OCI
#    runtime refused by the kernel), the image's filesystem is run with chroot instead:
#    the same binary, user, environment and libraries, without the engine's isolation.
if ! "$ENGINE" run --rm "$IMAGE" --version >/dev/null 2>&1; then
    step "$ENGINE cannot run containers here; checking the image's filesystem with chroot"
    rootfs="$WORK/rootfs"
    rm -rf "$rootfs" && mkdir -p "$rootfs"
    cid=$("$ENGINE" create "$IMAGE")
    "$ENGINE" export "$cid" | tar -C "$rootfs" -x
    "$ENGINE" rm "$cid" >/dev/null
    mkdir -p "$rootfs/proc" "$rootfs/dev" "$rootfs/tmp"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
    env_args=()
    while IFS= read -r kv; do env_args+=("$kv"); done < <(
        "$ENGINE" image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | grep .)
    port=${PORT:-18089}
    env -i "${env_args[@]}" MESHVIEW_SERVER__BIND=127.0.0.1 MESHVIEW_SERVER__PORT="$port" \
        chroot --userspec=10001:10001 "$rootfs" /usr/local/bin/meshview run --demo \
        >"$WORK/chroot.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 1 60); do
        curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        sleep 1
    done
    sleep 5
    curl -fsS "http://127.0.0.1:$port/health"; echo
    curl -fsS "http://127.0.0.1:$port/nodelist" -o /dev/null
    user=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
    packets=$(curl -fsS "http://127.0.0.1:$port/api/stats/count" | sed 's/[^0-9]*\([0-9]*\).*/\1/')
    kill "$pid"; wait "$pid" || true
    [ "${packets:-0}" -gt 0 ] || { cat "$WORK/chroot.log" >&2; echo "no packets stored" >&2; exit 1; }
    ls -ln "$rootfs/data/packets.db"
    [ "$user" != 0 ] || { echo "the server ran as root" >&2; exit 1; }
    echo "==> OK (chroot): the server ran as uid $user; $packets packets stored in /data (file owner uid $(stat -c %u "$rootfs/data/packets.db"))"
    exit 0
fi
step "running it"
name=meshview-smoke-$$
volume=meshview-smoke-$$
port=${PORT:-18089}
cleanup() {
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
    "$ENGINE" volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT
run_it() {
    "$ENGINE" run -d --name "$name" -p "127.0.0.1:$port:8081" -v "$volume:/data" \
        "$IMAGE" run --demo >/dev/null
    for _ in $(seq 1 60); do
        curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        sleep 1
    done
    "$ENGINE" logs "$name" >&2
    echo "the container did not become healthy" >&2
    return 1
}
run_it
sleep 5
health=$(curl -fsS "http://127.0.0.1:$port/health")
echo "$health"
curl -fsS "http://127.0.0.1:$port/nodelist" -o /dev/null
user=$("$ENGINE" exec "$name" id -u)
[ "$user" != 0 ] || { echo "the server runs as root" >&2; exit 1; }
packets=$(curl -fsS "http://127.0.0.1:$port/api/stats/count" | sed 's/[^0-9]*\([0-9]*\).*/\1/')
[ "${packets:-0}" -gt 0 ] || { echo "no packets stored: $packets" >&2; exit 1; }
"$ENGINE" stop -t 30 "$name" >/dev/null
"$ENGINE" rm "$name" >/dev/null
run_it
again=$(curl -fsS "http://127.0.0.1:$port/api/stats/count" | sed 's/[^0-9]*\([0-9]*\).*/\1/')
[ "${again:-0}" -ge "$packets" ] || { echo "the volume lost packets: $packets then $again" >&2; exit 1; }
echo "==> OK: uid $user, $packets packets stored, $again after a restart on the same volume"
