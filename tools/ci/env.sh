# shellcheck shell=bash
# Source with the flavour of tools to use:  . tools/ci/env.sh current|oldest
# Puts that venv first on PATH and exports what the molecule scenarios read (LAB_IMAGE,
# LAB_FRP_ARCHIVE_DIR). Each piece is created by tools/lab/setup.sh if it is missing.
_flavour=${1:-current}
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_venv=$("$_root/tools/lab/setup.sh" venv-path "$_flavour") || return 1
export PATH="$_venv/bin:$PATH"
export VIRTUAL_ENV="$_venv"
LAB_IMAGE=$("$_root/tools/lab/setup.sh" image-name bookworm) || return 1
# Debian 13: the roles scenario runs on it in `make test` (bookworm in `make oldest`).
LAB_IMAGE_TRIXIE=$("$_root/tools/lab/setup.sh" image-name trixie) || return 1
LAB_FRP_ARCHIVE_DIR=$("$_root/tools/lab/setup.sh" archive-dir) || return 1
# The pinned LiteLLM venv the e2e lab mounts into spark (tools/lab/setup.sh litellm builds it).
LAB_LITELLM_VENV=$("$_root/tools/lab/setup.sh" litellm-dir) || return 1
export LAB_LITELLM_VENV
# promtool for the alert rules' unit tests (tests/unit/test_alert_rules.py).
_promtool=$("$_root/tools/lab/setup.sh" promtool-dir) || return 1
export PATH="$_promtool:$PATH"
export LAB_IMAGE LAB_IMAGE_TRIXIE LAB_FRP_ARCHIVE_DIR
export ANSIBLE_FORCE_COLOR=false PY_COLORS=0
unset _flavour _venv _promtool
# The lab's random frp token and API key (never the user's real ones).
set -a
# shellcheck disable=SC1090
. "$("$_root/tools/lab/setup.sh" lab-secrets)"
set +a
