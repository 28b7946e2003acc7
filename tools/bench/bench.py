"""make bench: the tunnel measured in the lab, written as build/bench/bench.md and bench.json.

Brings up the e2e lab (minipc, officegw, spark; molecule/e2e) in its own molecule state folder, then:
  - cold converge (bare hosts -> tunnel serving) and the no-change re-run, with site.yml;
  - latency from spark, interleaved in one run: direct to the API, the collection's default path
    (tcp proxy, mutual TLS), the same path with the previous TLS setting (an extra frps/frpc pair with
    frp's throw-away certificate and no CA pinned), an `ssh -R` reverse tunnel between the same
    containers, and then frp's HTTP vhost. spark2's frpc is stopped meanwhile, so that every target
    ends at spark's API (the load-balancing group would hand some connections to spark2's);
  - streaming: first-chunk delay and chunk cadence, direct vs through the tunnel;
  - load from the controller: --streams streamed completions in waves of --concurrency (cut streams
    counted) and --requests /v1/models calls from 50 keep-alive clients, with frps/frpc resident memory
    sampled meanwhile; the same streams through the HTTP vhost for comparison;
  - recovery after an frps restart, an frpc SIGKILL, a 30 s outage (molecule/e2e's fault tests) and a
    reboot of both hosts;
  - failover between the two office servers (tools/bench/failover.py), streaming through the real LiteLLM
    (tools/bench/litellm.py) and the HTTPS front on 8443 in its own lab (tools/bench/https.py).
--only-latency stops after the latency run (bring-up, converge, re-run, latency) and writes the report.
Everything talks only to the lab's containers or 127.0.0.1, and every loop is bounded.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import threading
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
TUNNEL = "http://127.0.0.1:18081"
MINIPC_API = "http://10.213.10.10:8081"
MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
SSH_PORT = 8082
OLD_BIND_PORT, OLD_API_PORT = 7001, 8091  # the previous TLS setting's extra frps/frpc pair

TARGETS = {
    "cold_converge_s": ("<=", 30),
    "rerun_s": ("<=", 10),
    "frps_restart_s": ("<=", 3),
    "frpc_sigkill_s": ("<=", 3),
    "outage_30s_s": ("<=", 10),
    "both_hosts_boot_s": ("<=", 15),
    "frps_rss_mib": ("<", 40),
    "default_keepalive_p99_added_ms": ("<=", 1.0),
    "default_new_conn_p99_ms": ("<=", 1.5),
    "default_vs_best_frp_keepalive_ratio": ("<=", 1.10),
    # Mutual TLS costs a handshake per tunnel (frpc's login), not per request: expect about 0.
    "mtls_vs_no_ca_keepalive_p50_added_ms": ("<=", 0.5),
    "default_streams_cut": ("==", 0),
    "models_requests_errors": ("==", 0),
}


def log(msg):
    print(f"==> {msg}", flush=True)


class Lab:
    def __init__(self, state_dir):
        self.env = dict(os.environ)
        self.env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(state_dir)
        self.env.pop("ANSIBLE_CONFIG", None)
        self.inventory = pathlib.Path(state_dir) / "inventory"
        self.api_key = os.environ["LAB_LLM_API_KEY"]

    def molecule(self, *args):
        subprocess.run(["molecule", *args, "-s", "e2e"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def playbook(self, name, *extra):
        env = dict(self.env, ANSIBLE_INVENTORY=str(self.inventory))
        start = time.monotonic()
        res = subprocess.run(["ansible-playbook", "-i", str(self.inventory), f"playbooks/{name}", *extra],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        took = time.monotonic() - start
        if res.returncode != 0:
            sys.exit(f"{name} failed:\n{res.stdout[-3000:]}")
        changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+:.*changed=(\d+)", res.stdout, re.M)}
        # Tasks run per host (ok + changed + skipped, summed over the plays of the recap).
        self.tasks = {}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", res.stdout, re.M):
            c = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", counters))
            self.tasks[host] = self.tasks.get(host, 0) + c.get("ok", 0) + c.get("skipped", 0)
        return took, changed

    def dexec(self, host, cmd, check=True, env_names=()):
        args = ["docker", "exec"]
        for name in env_names:  # values come from this process's environment, never from argv
            args += ["-e", name]
        res = subprocess.run([*args, host, "bash", "-c", cmd], capture_output=True, text=True, check=False,
                             env=self.env)
        if check and res.returncode != 0:
            sys.exit(f"{host}: {cmd} failed: {res.stderr[-2000:]}")
        return res.stdout

    def serving(self, timeout=1.0):
        try:
            r = requests.get(f"{TUNNEL}/v1/models", timeout=timeout,
                             headers={"Host": "llm.local", "Authorization": f"Bearer {self.api_key}"})
        except requests.RequestException:
            return False
        return r.status_code == 200

    def wait_serving(self, limit=120):
        start = time.monotonic()
        while time.monotonic() - start < limit:
            if self.serving():
                return time.monotonic() - start
            time.sleep(0.05)
        sys.exit(f"the tunnel did not serve within {limit} s")


def machine_busy_s():
    """CPU seconds the whole machine (controller, docker, every container) has been busy, from /proc/stat."""
    fields = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def container_cpu_counter(host):
    """A function that reads the CPU seconds the container's cgroup has used (cgroup v2 cpu.stat, or v1
    cpuacct.usage). The cgroup file is looked up once; each reading is then one small read."""
    cid = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", host], capture_output=True, text=True,
                         check=True).stdout.strip()

    def v2_usage(stat):
        usage = re.search(r"^usage_usec (\d+)$", stat.read_text(), re.M)
        return int(usage.group(1)) / 1e6 if usage else None

    for stat in pathlib.Path("/sys/fs/cgroup").glob(f"**/*{cid}*/cpu.stat"):
        if v2_usage(stat) is not None:
            return lambda: v2_usage(stat)
    for acct in pathlib.Path("/sys/fs/cgroup").glob(f"**/*{cid}*/cpuacct.usage"):
        return lambda: int(acct.read_text()) / 1e9
    sys.exit(f"no cgroup CPU counter found for the container {host}")


def task_cost(lab, host="minipc", n=20):
    """What one module run costs, and its parts: wall time with pipelining on and off, the container's CPU
    (the module's Python on the host), the controller's CPU (Ansible's worker, the docker CLI) and one bare
    `docker exec` round trip. Each is the difference between n runs and none, divided by n."""
    container_cpu_s = container_cpu_counter(host)

    def probe(pipelining, runs):
        env = dict(lab.env, ANSIBLE_INVENTORY=str(lab.inventory), ANSIBLE_PIPELINING=str(pipelining))
        ctl0, box0 = resource.getrusage(resource.RUSAGE_CHILDREN), container_cpu_s()
        start = time.monotonic()
        subprocess.run(["ansible-playbook", "-i", str(lab.inventory), "tools/bench/task_cost.yml",
                        "-e", f"task_cost_host={host}", "-e", f"task_cost_n={runs}"],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        took = time.monotonic() - start
        ctl1, box1 = resource.getrusage(resource.RUSAGE_CHILDREN), container_cpu_s()
        ctl = (ctl1.ru_utime + ctl1.ru_stime) - (ctl0.ru_utime + ctl0.ru_stime)
        return took, ctl, box1 - box0

    cost = {}
    for pipelining in (True, False):
        base, full = probe(pipelining, 0), probe(pipelining, n)
        wall, ctl, box = ((f - b) / n * 1000 for f, b in zip(full, base))
        key = "pipelining" if pipelining else "no_pipelining"
        cost[key] = {"wall_ms": wall, "controller_cpu_ms": ctl, "container_cpu_ms": box}
    start = time.monotonic()
    for _ in range(n):
        subprocess.run(["docker", "exec", host, "true"], check=True)
    cost["docker_exec_ms"] = (time.monotonic() - start) / n * 1000
    return cost


def stream_load(lab, *args, on_spark=False):
    """Runs tools/bench/stream_load.py (JSON out) on the controller or inside spark."""
    if on_spark:
        out = lab.dexec("spark", "python3 /opt/lab/stream_load.py " + " ".join(args), env_names=("BENCH_API_KEY",))
    else:
        out = subprocess.run([sys.executable, str(ROOT / "tools/bench/stream_load.py"), *args], check=True,
                             capture_output=True, text=True, env=lab.env).stdout
    return json.loads(out)


def models_load(lab, total, clients=50):
    """`total` GET /v1/models through the tunnel from `clients` keep-alive sessions; returns the error count."""
    per_client = total // clients
    headers = {"Host": "llm.local", "Authorization": f"Bearer {lab.api_key}"}

    def client(_):
        errors = 0
        with requests.Session() as s:
            for _ in range(per_client):
                try:
                    r = s.get(f"{TUNNEL}/v1/models", headers=headers, timeout=10)
                    errors += r.status_code != 200 or MODEL not in r.text
                except requests.RequestException:
                    errors += 1
        return errors

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return per_client * clients, sum(pool.map(client, range(clients)))


class RssSampler(threading.Thread):
    """Largest resident memory of frps (minipc) and frpc (spark) seen while it runs, in MiB."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab, self.stop, self.peak = lab, threading.Event(), {"frps": 0.0, "frpc": 0.0}

    def run(self):
        while not self.stop.is_set():
            for host, proc in (("minipc", "frps"), ("spark", "frpc")):
                out = self.lab.dexec(host, f"ps -o rss= -C {proc}", check=False).split()
                if out:
                    self.peak[proc] = max(self.peak[proc], int(out[0]) / 1024)
            self.stop.wait(0.5)


def start_ssh_reverse_tunnel(lab):
    """ssh -R from spark to minipc carrying minipc:8082 to spark's API: the baseline a user would pick."""
    lab.dexec("minipc", "ssh-keygen -A >/dev/null && mkdir -p /run/sshd && "
                        "printf 'GatewayPorts clientspecified\\n' > /etc/ssh/sshd_config.d/bench.conf && "
                        f"systemctl restart ssh && ufw allow {SSH_PORT}/tcp >/dev/null")
    lab.dexec("spark", "test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519")
    pub = lab.dexec("spark", "cat /root/.ssh/id_ed25519.pub")
    lab.dexec("minipc", f"mkdir -p -m 700 /root/.ssh && echo '{pub.strip()}' > /root/.ssh/authorized_keys")
    lab.dexec("spark", "systemctl stop bench-ssh-r 2>/dev/null; systemctl reset-failed bench-ssh-r 2>/dev/null; "
                       "systemd-run --unit bench-ssh-r ssh -N -o StrictHostKeyChecking=no -o ExitOnForwardFailure=yes "
                       f"-R 0.0.0.0:{SSH_PORT}:127.0.0.1:4000 root@10.213.10.10")
    for _ in range(100):
        if lab.dexec("spark", f"curl -s -o /dev/null -w '%{{http_code}}' http://10.213.10.10:{SSH_PORT}/health/liveliness",
                     check=False).strip() == "200":
            return
        time.sleep(0.1)
    sys.exit("the ssh -R tunnel did not come up")


def stop_ssh_reverse_tunnel(lab):
    lab.dexec("spark", "systemctl stop bench-ssh-r", check=False)
    lab.dexec("minipc", f"ufw delete allow {SSH_PORT}/tcp >/dev/null; rm -f /etc/ssh/sshd_config.d/bench.conf; "
                        "systemctl stop ssh", check=False)


def start_previous_setting(lab):
    """An extra frps (minipc:7001) and frpc (spark) with the TLS setting before mutual TLS, carrying
    minipc:8091 to spark's API: frps with transport.tls.force and frp's throw-away self-signed
    certificate, frpc with TLS on but no CA pinned and no client certificate. Same token file as the
    real pair (frp reads it; the token never passes through this script)."""
    token_path = lab.dexec("minipc", "awk -F'\"' '/^auth\\.tokenSource\\.file\\.path *=/ {print $2}' "
                                     "/etc/frp/frps.toml").strip()
    if not token_path:
        sys.exit("no auth.tokenSource.file.path in minipc's /etc/frp/frps.toml")
    # Logged and kept alive like the real frps (its log level, to a file; its tcpMux keepalive): only TLS differs.
    same = lab.dexec("minipc", r"grep -E '^(log\.level|transport\.tcpMuxKeepaliveInterval) = ' /etc/frp/frps.toml",
                     check=False)
    frps_toml = (f"bindPort = {OLD_BIND_PORT}\n"
                 f"allowPorts = [{{ single = {OLD_API_PORT} }}]\n"
                 'auth.method = "token"\nauth.tokenSource.type = "file"\n'
                 f"auth.tokenSource.file.path = {json.dumps(token_path)}\n"
                 "transport.tls.force = true\n"
                 'log.to = "/tmp/bench-old-frps.log"\n' + same)
    lab.dexec("minipc", "set -e\n"
                        f"cat > /tmp/bench-old-frps.toml <<'EOF'\n{frps_toml}EOF\n"
                        "/usr/local/bin/frps verify -c /tmp/bench-old-frps.toml >/dev/null\n"
                        "systemctl stop bench-old-frps 2>/dev/null || true\n"
                        "systemctl reset-failed bench-old-frps 2>/dev/null || true\n"
                        "systemd-run --quiet --unit bench-old-frps /usr/local/bin/frps -c /tmp/bench-old-frps.toml\n"
                        f"ufw allow {OLD_BIND_PORT}/tcp >/dev/null\nufw allow {OLD_API_PORT}/tcp >/dev/null\n")
    for _ in range(100):
        if lab.dexec("minipc", f"ss -Htln '( sport = :{OLD_BIND_PORT} )'", check=False).strip():
            break
        time.sleep(0.1)
    else:
        sys.exit(f"the previous setting's frps does not listen on {OLD_BIND_PORT}")
    # The real frpc.toml pointed at 7001, without the CA pin and client certificate, with its own log file
    # (same level), no webServer (could clash with the real frpc), and one proxy instead of the real ones.
    proxy = (f'\n[[proxies]]\nname = "bench-old"\ntype = "tcp"\nlocalIP = "127.0.0.1"\nlocalPort = 4000\n'
             f"remotePort = {OLD_API_PORT}\n")
    pin = r"^transport\.tls\.\(trustedCaFile\|serverName\|certFile\|keyFile\)"
    lab.dexec("spark", "set -e\numask 077\n"
                       f"sed -e 's/^serverPort = .*/serverPort = {OLD_BIND_PORT}/' -e '/{pin}/d' "
                       r"""-e 's|^log\.to = .*|log.to = "/tmp/bench-old-frpc.log"|' -e '/^log\.maxDays/d' """
                       r"-e '/^webServer\./d' -e '/^\[\[proxies\]\]/,$d' "
                       "/etc/frp/frpc.toml > /tmp/bench-old-frpc.toml\n"
                       f"printf '%s' '{proxy}' >> /tmp/bench-old-frpc.toml\n"
                       r"grep -q '^transport\.tls\.enable = true' /tmp/bench-old-frpc.toml" "\n"
                       f"if grep -q '{pin}' /tmp/bench-old-frpc.toml; then exit 1; fi\n"
                       "/usr/local/bin/frpc verify -c /tmp/bench-old-frpc.toml >/dev/null\n"
                       "systemctl stop bench-old-frpc 2>/dev/null || true\n"
                       "systemctl reset-failed bench-old-frpc 2>/dev/null || true\n"
                       "systemd-run --quiet --unit bench-old-frpc /usr/local/bin/frpc -c /tmp/bench-old-frpc.toml\n")
    for _ in range(150):
        if lab.dexec("spark", "curl -s -o /dev/null -w '%{http_code}' --max-time 2 "
                              f"http://10.213.10.10:{OLD_API_PORT}/health/liveliness", check=False).strip() == "200":
            return
        time.sleep(0.2)
    sys.exit("the previous setting's tunnel did not serve within 30 s:\n"
             + lab.dexec("spark", "journalctl -u bench-old-frpc --no-pager -n 20", check=False))


def stop_previous_setting(lab):
    lab.dexec("spark", "systemctl stop bench-old-frpc 2>/dev/null; systemctl reset-failed bench-old-frpc 2>/dev/null; "
                       "rm -f /tmp/bench-old-frpc.toml /tmp/bench-old-frpc.log", check=False)
    lab.dexec("minipc", "systemctl stop bench-old-frps 2>/dev/null; systemctl reset-failed bench-old-frps 2>/dev/null; "
                        "rm -f /tmp/bench-old-frps.toml /tmp/bench-old-frps.log; "
                        f"ufw delete allow {OLD_BIND_PORT}/tcp >/dev/null; ufw delete allow {OLD_API_PORT}/tcp >/dev/null",
              check=False)


def has_spark2():
    return subprocess.run(["docker", "inspect", "spark2"], capture_output=True, check=False).returncode == 0


def backends_of_default_path(lab, n=8):
    """Which office server answered each of n new connections to the default path (spark2's fake API
    names itself; spark's LiteLLM does not)."""
    seen = []
    for _ in range(n):
        try:
            r = requests.get(f"{TUNNEL}/v1/models", timeout=2,
                             headers={"Host": "llm.local", "Authorization": f"Bearer {lab.api_key}"})
            seen.append(r.headers.get("X-Backend") or ("spark2" if "spark2-only-model" in r.text else "spark"))
        except requests.RequestException:
            seen.append(None)
    return seen


def only_spark_on_default_path(lab):
    """Stops spark2's frpc until every new connection to the default path ends at spark."""
    lab.dexec("spark2", "systemctl stop frpc")
    for _ in range(60):
        if set(backends_of_default_path(lab)) == {"spark"}:
            return
        time.sleep(0.5)
    sys.exit("the default path still reaches spark2 30 s after its frpc stopped")


def spark2_back_on_default_path(lab):
    lab.dexec("spark2", "systemctl start frpc", check=False)
    for _ in range(120):
        if "spark2" in backends_of_default_path(lab):
            return
        time.sleep(0.5)
    sys.exit("spark2 took no connection on the default path within 60 s of its frpc starting")


def latency(lab, requests_n, targets):
    """Latency per target name, measured from spark in one interleaved run."""
    args = ["--mode", "latency", "--requests", str(requests_n), "--latency-path", "/v1/models", "--max-seconds", "300"]
    for t in targets:
        args += ["--target", t]
    return stream_load(lab, *args, on_spark=True)["targets"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--requests", type=int, default=5000, help="/v1/models calls under load")
    ap.add_argument("--latency-requests", type=int, default=3000)
    ap.add_argument("--keep", action="store_true", help="leave the lab running")
    ap.add_argument("--skip-https", action="store_true", help="leave out the HTTPS front's bench (its own lab)")
    ap.add_argument("--only-latency", action="store_true",
                    help="bring-up, converge, re-run and the latency run only "
                         "(with mutual TLS vs the previous setting)")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # bench.md appends the part-reports found here: none may be left from an earlier run.
    for stale in ("bench.md", "bench.json", "failover.md", "failover.json", "litellm.json", "https.md", "https.json"):
        (out / stale).unlink(missing_ok=True)
    cache = pathlib.Path(os.environ.get("LISYOEN_FRP_CACHE", pathlib.Path.home() / ".cache" / "lisyoen-frp"))
    lab = Lab(cache / "bench-e2e")
    lab.env["BENCH_API_KEY"] = lab.api_key  # stream_load reads it from the environment, never argv
    res = {"measured": {}, "detail": {}}
    m, d = res["measured"], res["detail"]

    log("bare lab hosts (molecule create + prepare of the e2e scenario)")
    lab.molecule("destroy")
    lab.molecule("create")
    lab.molecule("prepare")

    log("cold converge: site.yml on bare hosts, then until the tunnel serves")
    busy = machine_busy_s()
    start = time.monotonic()
    d["cold_site_yml_s"], _ = lab.playbook("site.yml")
    d["cold_site_yml_cpu_s"], d["cpus"] = machine_busy_s() - busy, os.cpu_count()
    d["cold_tasks_per_host"] = lab.tasks
    lab.wait_serving(60)
    m["cold_converge_s"] = time.monotonic() - start
    log("no-change re-run of site.yml")
    m["rerun_s"], changed = lab.playbook("site.yml")
    d["rerun_changed"] = changed
    d["rerun_tasks_per_host"] = lab.tasks
    log("the cost of one task: a module run on minipc, with pipelining on and off, and its parts")
    d["task_cost"] = task_cost(lab)

    subprocess.run(["docker", "cp", str(ROOT / "tools/bench/stream_load.py"), "spark:/opt/lab/stream_load.py"], check=True)
    spark2 = has_spark2()
    try:
        if spark2:
            log("spark2's frpc stopped for the latency run: every target then ends at spark's API")
            only_spark_on_default_path(lab)
        log("ssh -R baseline between the same containers")
        start_ssh_reverse_tunnel(lab)
        log(f"the previous TLS setting (no CA pinned, frp's throw-away certificate) on minipc:{OLD_BIND_PORT}, "
            f"carrying {OLD_API_PORT}")
        start_previous_setting(lab)
        log(f"latency from spark, {args.latency_requests} requests per path and kind, interleaved")
        lat = latency(lab, args.latency_requests, [
            "direct=http://127.0.0.1:4000",
            f"frp_tcp_default={MINIPC_API}",
            f"frp_tcp_no_ca_pinned=http://10.213.10.10:{OLD_API_PORT}",
            f"ssh_r=http://10.213.10.10:{SSH_PORT}",
        ])
    finally:
        stop_previous_setting(lab)
        stop_ssh_reverse_tunnel(lab)
        if spark2:
            spark2_back_on_default_path(lab)
    d["latency_default_run"] = lat

    def ka(lat_run, name, q):
        return lat_run[name]["keep_alive"][f"{q}_ms"]

    def nc(lat_run, name, q):
        return lat_run[name]["new_connection"][f"{q}_ms"]

    def added(lat_run, name):
        return ka(lat_run, name, "p50") - ka(lat_run, "direct", "p50")

    m["default_keepalive_p99_added_ms"] = ka(lat, "frp_tcp_default", "p99") - ka(lat, "direct", "p99")
    m["default_new_conn_p99_ms"] = nc(lat, "frp_tcp_default", "p99")
    m["mtls_vs_no_ca_keepalive_p50_added_ms"] = added(lat, "frp_tcp_default") - added(lat, "frp_tcp_no_ca_pinned")
    d["added_keepalive_p50_ms"] = {name: added(lat, name)
                                   for name in ("frp_tcp_default", "frp_tcp_no_ca_pinned", "ssh_r")}
    lat_http = None
    if args.only_latency:
        if not args.keep:
            lab.molecule("destroy")
        write(out, res, lat, lat_http, d)
        return

    log("streaming cadence from spark: direct vs through the tunnel")
    for name, url in (("direct", "http://127.0.0.1:4000"), ("frp_tcp_default", MINIPC_API)):
        d[f"stream_{name}"] = stream_load(lab, "--url", url, "--model", f"'{MODEL}'", "--chunks", "0",
                                          "--waves", "5", "--concurrency", "10", "--interval-ms", "50",
                                          "--max-seconds", "60", on_spark=True)

    log(f"load on the default path: {args.streams} streams in waves of {args.concurrency}, "
        f"then {args.requests} /v1/models calls from 50 keep-alive clients")
    sampler = RssSampler(lab)
    sampler.start()
    waves = max(1, args.streams // args.concurrency)
    d["load_streams_default"] = stream_load(lab, "--url", TUNNEL, "--host", "llm.local", "--model", MODEL,
                                            "--chunks", "0", "--waves", str(waves), "--concurrency",
                                            str(args.concurrency), "--interval-ms", "50", "--max-seconds", "600")
    total, errors = models_load(lab, args.requests)
    sampler.stop.set()
    sampler.join()
    m["default_streams_cut"] = d["load_streams_default"]["streams"]["cut"] + d["load_streams_default"]["streams"]["failed"]
    d["default_streams_total"] = d["load_streams_default"]["streams"]["total"]
    m["models_requests_errors"], d["models_requests_total"] = errors, total
    m["frps_rss_mib"], d["frpc_rss_mib"] = sampler.peak["frps"], sampler.peak["frpc"]

    log("frp's HTTP vhost (llm_tunnel_type=http): latency and the same streams, for comparison")
    lab.playbook("site.yml", "-e", "llm_tunnel_type=http")
    lab.wait_serving(60)
    try:
        lat_http = latency(lab, args.latency_requests, [
            "direct=http://127.0.0.1:4000", f"frp_http_vhost={MINIPC_API}@llm.local"])
        d["latency_vhost_run"] = lat_http
        d["load_streams_vhost"] = stream_load(lab, "--url", TUNNEL, "--host", "llm.local", "--model", MODEL,
                                              "--chunks", "0", "--waves", str(waves), "--concurrency",
                                              str(args.concurrency), "--interval-ms", "50", "--max-seconds", "600")
    finally:
        lab.playbook("site.yml")
        lab.wait_serving(60)
    d["vhost_streams_cut"] = d["load_streams_vhost"]["streams"]["cut"] + d["load_streams_vhost"]["streams"]["failed"]

    added_default, added_vhost = added(lat, "frp_tcp_default"), added(lat_http, "frp_http_vhost")
    d["added_keepalive_p50_ms"]["frp_http_vhost"] = added_vhost
    m["default_vs_best_frp_keepalive_ratio"] = added_default / min(added_default, added_vhost)

    log("recovery: frps restart, frpc SIGKILL, 30 s outage (molecule/e2e fault tests)")
    rec_file = pathlib.Path(lab.env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "recovery.json"
    rec_file.unlink(missing_ok=True)
    env = dict(lab.env, MOLECULE_INVENTORY_FILE=str(lab.inventory / "ansible_inventory.yml"))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s",
                    "molecule/e2e/tests/test_faults.py", "-k", "frps_restart or frpc_sigkill or cut_off"],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    rec = json.loads(rec_file.read_text())
    m["frps_restart_s"], m["frpc_sigkill_s"], m["outage_30s_s"] = rec["frps_restart"], rec["frpc_sigkill"], rec["outage_30s"]
    log("both hosts rebooted (containers restarted) until the tunnel serves")
    # Stopped first, then started together: the clock runs from the moment both hosts boot.
    subprocess.run(["docker", "stop", "-t", "30", "minipc", "spark"], check=True, capture_output=True)
    start = time.monotonic()
    subprocess.run(["docker", "start", "minipc", "spark"], check=True, capture_output=True)
    m["both_hosts_boot_s"] = time.monotonic() - start + lab.wait_serving(120)

    log("failover: two office servers, four faults, the spread (tools/bench/failover.py)")
    subprocess.run([sys.executable, str(ROOT / "tools/bench/failover.py"), "--state-dir",
                    lab.env["MOLECULE_EPHEMERAL_DIRECTORY"], "--json", str(out / "failover.json"),
                    "--markdown", str(out / "failover.md")], cwd=ROOT, env=lab.env, check=True)
    if not args.keep:
        lab.molecule("destroy")
    log("streaming through the real LiteLLM vs the model server direct (tools/bench/litellm.py)")
    subprocess.run([sys.executable, str(ROOT / "tools/bench/litellm.py"), "--out", str(out / "litellm.json")],
                   cwd=ROOT, env=lab.env, check=True)
    # The tunnel's figures are written whatever becomes of the HTTPS lab, which runs last.
    try:
        if not args.skip_https:
            log("HTTPS on 8443 through nginx vs the tcp port and direct (tools/bench/https.py, its own lab)")
            subprocess.run([sys.executable, str(ROOT / "tools/bench/https.py"), "--up", "--down", "--out", str(out)],
                           cwd=ROOT, env=lab.env, check=True)
    finally:
        write(out, res, lat, lat_http, d)


def verdict(name, value):
    op, target = TARGETS[name]
    ok = {"<=": value <= target, "<": value < target, "==": value == target}[op]
    return f"{op} {target}", "yes" if ok else "**no**"


def write(out, res, lat, lat_http, d):
    m = res["measured"]
    res["targets"] = {k: {"target": verdict(k, v)[0], "met": verdict(k, v)[1] == "yes"} for k, v in m.items()}
    (out / "bench.json").write_text(json.dumps(res, indent=2, default=str))
    lines = ["# lisyoen.frp benchmark (make bench)", "",
             "Measured in the lab: minipc (frps) <- officegw (NAT) <- spark (frpc, fake LLM API), real frp 0.65.0.", "",
             "## Targets", "", "| measure | value | target | met |", "|---|---|---|---|"]
    for k, v in m.items():
        lines.append(f"| {k} | {v:.3f} | {verdict(k, v)[0]} | {verdict(k, v)[1]} |")
    lines += ["", "## Latency from spark, GET /v1/models (ms)", "",
              "| path | keep-alive p50 | p99 | new connection p50 | p99 | keep-alive p50 / direct |", "|---|---|---|---|---|---|"]
    for run in (r for r in (lat, lat_http) if r is not None):
        direct = run["direct"]["keep_alive"]["p50_ms"]
        for name, t in run.items():
            k, n = t["keep_alive"], t["new_connection"]
            lines.append(f"| {name} | {k['p50_ms']:.3f} | {k['p99_ms']:.3f} | {n['p50_ms']:.3f} | {n['p99_ms']:.3f} "
                         f"| {k['p50_ms'] / direct:.2f} |")
    lines += ["", "Added keep-alive p50 over direct (ms): "
              + ", ".join(f"{k} {v:.3f}" for k, v in d["added_keepalive_p50_ms"].items()), "",
              "Mutual TLS vs the previous setting, same run: frp_tcp_default is the collection's tunnel (mutual TLS "
              "with its CA); frp_tcp_no_ca_pinned an extra frps/frpc pair in the same containers with the setting "
              "before it (frps `transport.tls.force` with frp's throw-away certificate, frpc without "
              f"`trustedCaFile`/`serverName`/client certificate), minipc:{OLD_API_PORT} to the same API. "
              f"Added keep-alive p50: {d['added_keepalive_p50_ms']['frp_tcp_default']:.3f} ms vs "
              f"{d['added_keepalive_p50_ms']['frp_tcp_no_ca_pinned']:.3f} ms "
              f"(difference {m['mtls_vs_no_ca_keepalive_p50_added_ms']:.3f} ms).",
              "Every target of this run ends at spark's API (127.0.0.1:4000); spark2's frpc is stopped during it.",
              "Errors per target: " + ", ".join(f"{k} {t['errors']}" for k, t in lat.items()) + "."]
    names = [n for n in ("stream_direct", "stream_frp_tcp_default", "load_streams_default", "load_streams_vhost")
             if n in d]
    if names:
        lines += ["", "## Streaming", "", "| path | streams | cut+failed | first event p50 / p99 ms | chunk gap p50 / p99 ms |",
                  "|---|---|---|---|---|"]
    for name in names:
        s = d[name]
        fe, cg = s["first_event"], s["chunk_gap"]
        lines.append(f"| {name} | {s['streams']['total']} | {s['streams']['cut'] + s['streams']['failed']} "
                     f"| {fe['p50_ms']} / {fe['p99_ms']} | {cg['p50_ms']} / {cg['p99_ms']} |")
    lines.append("")
    if "models_requests_total" in d:
        lines.append(f"/v1/models under load: {d['models_requests_total']} requests, {m['models_requests_errors']} errors. "
                     f"Peak RSS: frps {m['frps_rss_mib']:.1f} MiB, frpc {d['frpc_rss_mib']:.1f} MiB.")
    lines += [f"Re-run changed counts: {d['rerun_changed']}.",
              f"Tasks per host (ok + skipped): cold {d['cold_tasks_per_host']}, re-run {d['rerun_tasks_per_host']}. "
              "The converge figures assume ansible.cfg's settings (pipelining on) over Ansible's docker connection.",
              f"The cold site.yml took {d['cold_site_yml_s']:.1f} s and kept this machine's {d['cpus']} CPUs busy for "
              f"{d['cold_site_yml_cpu_s']:.1f} CPU-seconds (controller, docker and every container together): even "
              f"spread perfectly over the CPUs it would take {d['cold_site_yml_cpu_s'] / d['cpus']:.1f} s.",
              "", "## The cost of one task", "",
              "One module run (`ansible.builtin.stat` on minipc with become, tools/bench/task_cost.yml): the "
              "difference between 20 runs and none, divided by 20.", "",
              "| | wall ms | controller CPU ms | container CPU ms |", "|---|---|---|---|"]
    for key in ("pipelining", "no_pipelining"):
        c = d["task_cost"][key]
        lines.append(f"| {key.replace('_', ' ')} | {c['wall_ms']:.0f} | {c['controller_cpu_ms']:.0f} "
                     f"| {c['container_cpu_ms']:.0f} |")
    lines += ["", f"A bare `docker exec minipc true` round trip: {d['task_cost']['docker_exec_ms']:.0f} ms. "
              "The container CPU is the module's Python on the host (ansible-core's module_utils are imported "
              "from the module's zip, compiled on every run); the controller CPU is Ansible's worker and the "
              "docker CLI. Compare these rows between two labs to see where a task's time differs.",
              ]
    for extra in ("failover.md", "https.md"):
        if (out / extra).exists():
            lines += ["", (out / extra).read_text().rstrip()]
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out / 'bench.md'}, {out / 'bench.json'}")


if __name__ == "__main__":
    main()
