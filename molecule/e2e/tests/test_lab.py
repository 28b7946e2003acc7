"""The lab itself, not the collection: the office router really is the closed network the README describes.

If these fail, the e2e results prove nothing about a closed office network: spark must be unreachable from
the internet side, so that the API answering through minipc can only be the tunnel.
"""


def test_direct_path_from_minipc_to_spark_api_fails(minipc, spark):
    # Positive control first: the API is up on spark and listens on all addresses.
    assert spark.run("curl -sf -o /dev/null --max-time 3 http://127.0.0.1:4000/health/liveliness").rc == 0
    assert spark.socket("tcp://0.0.0.0:4000").is_listening
    for port in (4000, 22):
        res = minipc.run(f"curl -s -o /dev/null --max-time 3 http://10.213.20.10:{port}/")
        assert res.rc != 0, f"minipc reached spark:{port} directly"


def test_nothing_from_outside_can_open_a_connection_to_spark(minipc):
    # From the internet side, even via the office router's address, nothing gets in.
    for target in ("10.213.20.10:4000", "10.213.10.2:4000"):
        res = minipc.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{target.replace(':', '/')}'")
        assert res.rc != 0, f"minipc opened a connection to {target}"
