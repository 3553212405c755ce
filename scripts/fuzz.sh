#!/usr/bin/env bash
# Runs a short libFuzzer campaign (cargo-fuzz) over the fuzz targets in fuzz/, one target
# at a time, at the lowest CPU priority. Not part of the test suite: see docs/fuzzing.md.
#
#   scripts/fuzz.sh [--seconds N] [--target NAME]...
#
#   --seconds N    how long each target runs (default 30)
#   --target NAME  run only this target (repeatable); default all of them:
#                  envelope payload text_format config_ini database_url web_params
#
# Installs cargo-fuzz when missing, regenerates the seed corpora (fuzz/corpus/<target>/,
# not committed) and keeps what libFuzzer finds there; a crash input lands in
# fuzz/artifacts/<target>/ and makes the script exit 1 after the remaining targets ran.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(envelope payload text_format config_ini database_url web_params)
seconds=30
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --target) targets+=("${2:?--target needs a name}"); shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$seconds" in ''|*[!0-9]*) echo "--seconds wants a whole number, not $seconds" >&2; exit 2 ;; esac
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    case " ${all[*]} " in *" $t "*) ;; *) echo "no fuzz target $t (have: ${all[*]})" >&2; exit 2 ;; esac
done

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes nightly-only flags (-Z…); a stable toolchain accepts them with this.
# Harmless on nightly.
export RUSTC_BOOTSTRAP=1
# No AddressSanitizer: there is no unsafe code in the project, and ASan halves the speed.
# Debug assertions on: integer overflow panics instead of wrapping silently.
flags=(--sanitizer none --debug-assertions)

echo "==> seeds"
nice -n 19 cargo run --quiet -p meshview-sim --example fuzz_seeds -- fuzz/corpus

echo "==> building the fuzz targets"
nice -n 19 cargo fuzz build "${flags[@]}"
# The binaries are run directly: `cargo fuzz run` would re-check the build before each
# target (and in a git worktree, where .git is a file, build.rs makes that a rebuild).
bin="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

status=0
for t in "${targets[@]}"; do
    echo "==> $t: ${seconds}s"
    mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
    if ! nice -n 19 "$bin/$t" -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "fuzz/corpus/$t"; then
        echo "==> $t FAILED: the crash input is in fuzz/artifacts/$t/" >&2
        status=1
    fi
done
exit $status
