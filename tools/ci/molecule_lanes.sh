#!/usr/bin/env bash
# Runs molecule scenarios in lanes: the lanes side by side, the scenarios of one lane one after another.
# Scenarios in different lanes must share no container or network name (each scenario names its own).
#
#   tools/ci/molecule_lanes.sh "roles roles@oldest" "e2e" "firewall https monitor"
#
# <scenario> is `molecule test -s <scenario>` on the current ansible-core; the roles scenario runs on
# Debian 13 (trixie), every other one on Debian 12 (bookworm). roles@oldest is one converge of the roles
# scenario, then a second run that must change nothing, on the oldest supported ansible-core and bookworm.
# Each lane writes its log under build/molecule/; the logs are printed when all lanes are done, and the
# exit status is non-zero if any scenario failed. Source tools/ci/env.sh first.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOGS=${MOLECULE_LANE_LOGS:-$ROOT/build/molecule}
mkdir -p "$LOGS"

core() { ansible --version | sed -n '1s/.*core \(.*\)\]/\1/p'; }

scenario() { # name
  local name=$1 t0 rc
  t0=$(date +%s)
  case $name in
    roles@oldest)
      # A subshell: the oldest venv goes first on PATH for this scenario only.
      (
        # shellcheck disable=SC1091
        . "$ROOT/tools/ci/env.sh" oldest || exit 1
        echo "==> molecule converge + idempotence -s roles on ansible-core $(core), ${LAB_IMAGE#*:}"
        molecule destroy -s roles >/dev/null
        molecule converge -s roles && molecule idempotence -s roles
        rc=$?
        molecule destroy -s roles >/dev/null
        exit $rc
      )
      rc=$? ;;
    *)
      local img=$LAB_IMAGE
      [ "$name" != roles ] || img=$LAB_IMAGE_TRIXIE
      echo "==> molecule test -s $name on ${img#*:} (ansible-core $(core))"
      LAB_IMAGE=$img molecule test -s "$name"
      rc=$? ;;
  esac
  echo "==> $name: $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - t0 )) s"
  return "$rc"
}

lane() { # "scenario ..."
  local s
  for s in $1; do scenario "$s" || return 1; done
}

pids=() n=0
for spec in "$@"; do
  n=$((n + 1))
  lane "$spec" > "$LOGS/lane$n.log" 2>&1 &
  pids+=($!)
  echo "==> lane $n: $spec (log: $LOGS/lane$n.log)"
done

rc=0 n=0
for pid in "${pids[@]}"; do
  n=$((n + 1))
  if wait "$pid"; then status=passed; else status=FAILED; rc=1; fi
  echo "==> lane $n: $status"
done
for ((i = 1; i <= n; i++)); do
  echo "==================================== lane $i log ===================================="
  cat "$LOGS/lane$i.log"
done
echo "==> scenario times:"; grep -h '^==> [a-z0-9@-]*: \(passed\|FAILED\) in' "$LOGS"/lane*.log
exit $rc
