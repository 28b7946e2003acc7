#!/usr/bin/env bash
# make test, after setup: the static checks (lint, sanity on both ansible-cores, unit) run in the
# foreground while the molecule lanes already run behind them; the lanes spend their first minutes
# creating and converging labs, so nothing timed overlaps the checks. Every step's time is printed,
# and the run fails if any step failed (after all of them finished, so that every result is shown).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
mkdir -p build
start=$(date +%s)

make --no-print-directory molecule > build/molecule.out 2>&1 &
molecule_pid=$!
echo "==> make molecule: started in the background (output: build/molecule.out, shown when it ends)"

rc=0
for step in lint sanity unit; do
  t0=$(date +%s)
  if make --no-print-directory "$step"; then
    echo "==> make $step: done in $(( $(date +%s) - t0 )) s"
  else
    echo "==> make $step: FAILED after $(( $(date +%s) - t0 )) s"
    rc=1
  fi
done

t0=$(date +%s)
wait "$molecule_pid"
molecule_rc=$?
cat build/molecule.out
if [ "$molecule_rc" = 0 ]; then
  echo "==> make molecule: done, $(( $(date +%s) - start )) s after the start (waited $(( $(date +%s) - t0 )) s for it)"
else
  echo "==> make molecule: FAILED"
  rc=1
fi

if [ "$rc" = 0 ]; then
  echo "==> make test: all checks passed in $(( $(date +%s) - start )) s"
else
  echo "==> make test: FAILED after $(( $(date +%s) - start )) s"
fi
exit "$rc"
