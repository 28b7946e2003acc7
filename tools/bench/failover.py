"""Failover figures for several office servers: prints what molecule/e2e/tests/test_failover.py measures.

The measuring code lives in the test (one place): this script runs it against the e2e lab with
FAILOVER_RESULTS pointing at its own JSON file, then prints the exact figures as a table, for each
fault (a: the API stops on spark2, b: frpc killed there, c: spark2 cut off silently, d: spark2 powers
off) and for the spread of --requests requests over spark and spark2. The test's own assertions are
loose; this prints the numbers as measured and exits 1 only if the test failed.

  # against the lab a `molecule converge -s e2e` left (its newest state folder), or one given:
  python tools/bench/failover.py [--state-dir /root/.ansible/tmp/molecule.XXXX.e2e] [--requests 1000]
  # bring up a lab of its own (molecule create + converge, destroyed at the end):
  python tools/bench/failover.py --up
  # from tools/bench/bench.py, while its lab is up (state_dir = its MOLECULE_EPHEMERAL_DIRECTORY):
  subprocess.run([sys.executable, "tools/bench/failover.py", "--state-dir", str(state_dir),
                  "--json", str(out_dir / "failover.json"), "--markdown", str(out_dir / "failover.md")])

Environment: tools/ci/env.sh current (LAB_* variables, the pinned venv). Everything talks only to the
lab's containers and 127.0.0.1:18081; every load loop in the test is bounded.
"""

import argparse
import glob
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTS = ROOT / "molecule" / "e2e" / "tests"
FAULTS = {
    "a_api_stopped": "(a) API stops on spark2",
    "b_frpc_killed": "(b) frpc SIGKILLed on spark2",
    "c_silent_drop": "(c) spark2 cut off silently (20 s)",
    "d_power_off": "(d) spark2 powers off (20 s)",
}


def newest_state_dir():
    dirs = sorted(glob.glob("/root/.ansible/tmp/molecule.*.e2e"), key=os.path.getmtime, reverse=True)
    if not dirs:
        sys.exit("no e2e lab state found: run `molecule converge -s e2e`, give --state-dir, or use --up")
    return pathlib.Path(dirs[0])


def molecule(env, *args):
    subprocess.run(["molecule", *args, "-s", "e2e"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def table(data):
    rows = [
        "| fault | last failed request after the fault | failed requests (of all sent) | kinds | "
        "streams cut on spark2 | streams cut on spark | spark2 takes traffic again after coming back |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in FAULTS.items():
        f = data.get(key)
        if not f:
            rows.append(f"| {label} | not measured | | | | | |")
            continue
        rows.append(
            f"| {label} | {f['last_failure_s']:.2f} s | {f['failed_after_fault']} ({f['requests']}) | "
            f"{', '.join(f['failure_kinds']) or '-'} | {f['victim_streams_cut']} of {f['streams_on_victim']} | "
            f"{f['healthy_streams_cut']} of {f['streams_on_healthy']} | "
            f"{'-' if f['recovery_s'] is None else format(f['recovery_s'], '.2f') + ' s'} |"
        )
    spread = data.get("spread")
    if spread:
        total = spread["requests"]
        split = ", ".join(f"{name} {count} ({100 * count / total:.1f} %)" for name, count in spread["split"].items())
        rows.append("")
        rows.append(f"Spread: {total} requests (new connection each, 10 at a time) in {spread['seconds']} s, "
                    f"{spread['failed']} failed; {split}.")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-dir", type=pathlib.Path, help="MOLECULE_EPHEMERAL_DIRECTORY of a converged e2e lab")
    ap.add_argument("--up", action="store_true", help="create and converge a lab of its own, destroyed afterwards")
    ap.add_argument("--requests", type=int, default=1000, help="requests of the spread measure (default 1000)")
    ap.add_argument("--json", type=pathlib.Path, help="also write the figures as JSON here")
    ap.add_argument("--markdown", type=pathlib.Path, help="also write the table here")
    args = ap.parse_args()

    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    own_lab = None
    if args.up:
        own_lab = pathlib.Path(tempfile.mkdtemp(prefix="failover-bench."))
        env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(own_lab)
        molecule(env, "destroy")
        molecule(env, "create")
        molecule(env, "converge")
        state = own_lab
    else:
        state = args.state_dir or newest_state_dir()
    env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(state)
    env["MOLECULE_INVENTORY_FILE"] = str(state / "inventory" / "ansible_inventory.yml")
    results = pathlib.Path(tempfile.mkdtemp(prefix="failover-figures.")) / "failover.json"
    env["FAILOVER_RESULTS"] = str(results)
    env["FAILOVER_SPREAD_REQUESTS"] = str(args.requests)
    try:
        res = subprocess.run([sys.executable, "-m", "pytest", "test_failover.py", "-p", "no:cacheprovider", "-q",
                              "-k", "not group_key"], cwd=TESTS, env=env, check=False)
    finally:
        if own_lab:
            molecule(env, "destroy")
    data = json.loads(results.read_text()) if results.exists() else {}
    text = table(data)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
