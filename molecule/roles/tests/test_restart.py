"""frps restarts when its binary changes (handler), and systemd brings it back when it dies."""

import time

from conftest import recap, run_playbook

testinfra_hosts = ["ansible://roles-minipc"]


def _main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value frps.service"))


def _wait_for_new_pid(host, old_pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _main_pid(host)
        if pid not in (0, old_pid) and host.service("frps").is_running:
            return pid
        time.sleep(0.5)
    return _main_pid(host)


def test_changed_binary_is_replaced_and_frps_restarted(host):
    good_sha = host.check_output("sha256sum /usr/local/bin/frps").split()[0]
    pid = _main_pid(host)
    # Any other binary stands for a new version: copy compares checksums. (Renamed into place: the
    # running file itself cannot be written.)
    host.run_test(
        "cp /usr/local/bin/frps /usr/local/bin/.frps.new && printf x >> /usr/local/bin/.frps.new"
        " && mv /usr/local/bin/.frps.new /usr/local/bin/frps"
    )
    assert host.check_output("sha256sum /usr/local/bin/frps").split()[0] != good_sha

    result = run_playbook("converge.yml", "--limit", "roles-minipc")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "RUNNING HANDLER [lisyoen.frp.frps_server : Restart frps]" in result.stdout
    assert recap(result.stdout)["roles-minipc"]["changed"] == 2, "the binary and the restart, nothing else"

    assert host.check_output("sha256sum /usr/local/bin/frps").split()[0] == good_sha
    new_pid = _wait_for_new_pid(host, pid)
    assert new_pid not in (0, pid)
    assert host.socket("tcp://0.0.0.0:7000").is_listening or host.socket("tcp://:::7000").is_listening


def test_systemd_restarts_frps_after_a_crash(host):
    pid = _main_pid(host)
    host.run_test(f"kill -9 {pid}")
    # Restart=on-failure, RestartSec=1s, StartLimitIntervalSec=0
    new_pid = _wait_for_new_pid(host, pid)
    assert new_pid not in (0, pid), "frps did not come back"
    assert host.process.get(pid=new_pid).user == "frps"
