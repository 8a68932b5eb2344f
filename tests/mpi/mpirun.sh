#!/usr/bin/env bash
# Runs an MPI test program under mpirun: mpirun.sh RANKS PROGRAM [ARGS...]
# Exits 77 (ctest: skipped) with a message when mpirun is missing.
set -euo pipefail
ranks="$1"; shift
if ! command -v mpirun >/dev/null 2>&1; then
    echo "mpirun not found: MPI tests skipped (Debian: apt-get install openmpi-bin libopenmpi-dev)"
    exit 77
fi
args=(-n "$ranks" --oversubscribe)
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
# In containers Open MPI's shared-memory transport cannot use CMA (ptrace is restricted).
export OMPI_MCA_btl_vader_single_copy_mechanism=none
exec timeout --kill-after=10 120 mpirun "${args[@]}" "$@"
