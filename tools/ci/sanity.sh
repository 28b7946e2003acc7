#!/usr/bin/env bash
# ansible-test sanity on the collection exactly as `ansible-galaxy collection build` ships it,
# laid out under ansible_collections/lisyoen/frp as ansible-test requires, with no ignore files.
#   tools/ci/sanity.sh current|oldest
set -euo pipefail
flavour=${1:-current}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/ci/env.sh
. "$root/tools/ci/env.sh" "$flavour"
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# ansible-test bootstraps pip in its venvs with a script from a host only CI at Ansible can reach;
# put an equivalent made from ensurepip + PyPI where it looks first.
pip_version=$(python - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
install -m 0644 "$root/tools/ci/get_pip_offline.py" ~/.ansible/test/cache/get_pip_${pip_version//./_}.py
work=$(mktemp -d /tmp/lisyoen-frp-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "==> building the collection tarball (ansible-core $(ansible --version | sed -n '1s/.*core \(.*\)\]/\1/p'))"
ansible-galaxy collection build "$root" --output-path "$work/dist" >/dev/null
tarball=$(ls "$work"/dist/lisyoen-frp-*.tar.gz)
mkdir -p "$work/ansible_collections/lisyoen/frp"
tar -C "$work/ansible_collections/lisyoen/frp" -xzf "$tarball"
if ls "$work"/ansible_collections/lisyoen/frp/tests/sanity/ignore-*.txt >/dev/null 2>&1; then
  echo "ERROR: sanity ignore files exist; this collection keeps none." >&2; exit 1
fi
cd "$work/ansible_collections/lisyoen/frp"
echo "==> ansible-test sanity --python $py (first run builds ansible-test's own venvs, later runs reuse them)"
# pip's progress from building ansible-test's venvs is left out; its errors and every test line stay.
ansible-test sanity --venv --python "$py" --color no --truncate 0 2>&1 \
  | grep -Ev '^(WARNING: Location|Looking in|Collecting|Downloading|Using cached|Installing collected|Successfully|Requirement already| +(Downloading|Attempting|Found existing|Uninstalling|Successfully|━))'
