#!/bin/bash
# fuzz-smoke.sh: every fuzz target for a small time budget, as a TAP test
# for make check: FUZZ_SECONDS per target (default 10), FUZZ_ENV_ITERATIONS
# environments for fuzz-env.py (default 5000), libFuzzer seed FUZZ_SEED
# (default 1: the same inputs first on every run, so that a finding
# reproduces).  A missing clang skips the test locally but fails it in CI,
# as tests/integration/lib.sh does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v "${CC:-clang}" >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        echo "Bail out! clang is not installed (install package clang)"
        exit 1
    fi
    echo "1..0 # SKIP clang is not installed"
    exit 77
fi
export FUZZ_SEED=${FUZZ_SEED:-1}
exec "$here/build-and-run" --seconds "${FUZZ_SECONDS:-10}" \
    --env-iterations "${FUZZ_ENV_ITERATIONS:-5000}" \
    --builddir "${top_builddir:-$here/../..}"
