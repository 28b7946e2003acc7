#!/usr/bin/env bash
# make demo / make demo-down: the whole tunnel on a built-in lab of real systemd containers.
#   minipc  (home, frps)  <- frpc on spark (office, behind a NAT router) -> fake LLM API on spark:4000
# The lab is the molecule e2e scenario; site.yml and verify.yml then run exactly as a user runs them,
# with the lab's inventory instead of inventory/home.yml.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=tools/ci/env.sh
. tools/ci/env.sh current
export MOLECULE_EPHEMERAL_DIRECTORY="${LISYOEN_FRP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lisyoen-frp}/demo-e2e"
inv="$MOLECULE_EPHEMERAL_DIRECTORY/inventory"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

case ${1:-up} in
  up)
    step "bringing up the lab: minipc (home), officegw (office NAT router), spark (office LLM server)"
    molecule create -s e2e >/dev/null
    molecule prepare -s e2e --force >/dev/null
    # HTTPS on 8443 as the user's inventory has it (private mode: the lab's own CA signs the certificate).
    https=(-e llm_https_mode=private -e llm_https_port=8443)
    step "ansible-playbook playbooks/site.yml -i <lab inventory>"
    (unset ANSIBLE_CONFIG; ansible-playbook -i "$inv" playbooks/site.yml "${https[@]}")
    step "ansible-playbook playbooks/verify.yml -i <lab inventory>"
    (unset ANSIBLE_CONFIG; ansible-playbook -i "$inv" playbooks/verify.yml "${https[@]}")
    # Every line printed below works pasted into a new shell: the key is read from the lab's secrets file
    # (the real home PC reads it from wherever you keep it), so no variable has to be set first.
    secrets=$(tools/lab/setup.sh lab-secrets)
    key="\$(sed -n 's/^LAB_LLM_API_KEY=//p' '$secrets')"
    plain_line="curl -sS -H 'Host: llm.local' -H \"Authorization: Bearer $key\" http://127.0.0.1:18081/v1/models"
    step "what the home PC types (minipc's API port 8081 is published on 127.0.0.1:18081):"
    printf '%s\n' "$plain_line"
    step "its answer:"
    bash -c "$plain_line"
    echo
    step "a streamed chat completion through the tunnel:"
    curl -sSN -H 'Host: llm.local' -H "Authorization: Bearer $LAB_LLM_API_KEY" -H 'Content-Type: application/json' \
      -H 'x-fake-chunks: 5' -H 'x-fake-interval-ms: 200' \
      -d '{"model":"Qwen/Qwen3-Coder-30B-A3B-Instruct","stream":true,"messages":[{"role":"user","content":"Hello!"}]}' \
      http://127.0.0.1:18081/v1/chat/completions
    # The CA is read from its file too.
    https_line="curl -sS --cacert '$MOLECULE_EPHEMERAL_DIRECTORY/pki/ca.crt' -H \"Authorization: Bearer $key\" https://10.213.10.10:8443/v1/models"
    step "the same over HTTPS (port 8443, nginx in front of frps; trusted with the lab's CA file):"
    printf '%s\n' "$https_line"
    step "its answer:"
    bash -c "$https_line"
    echo
    step "the lab is up; remove it with: make demo-down"
    ;;
  down)
    step "removing the demo lab"
    molecule destroy -s e2e >/dev/null
    echo "removed"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
