# Shared by the setup scripts: logging and apt installs. Source it; it runs nothing.
# shellcheck shell=bash

# log TAG message: one line on stderr.
log() { printf '[%s] %s\n' "$LOG_TAG" "${*}" >&2; }

# apt_need PKG…: installs the Debian packages that are missing (Linux only).
apt_need() {
  [ "$(uname -s)" = Linux ] || return 0
  local need=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  [ ${#need[@]} -gt 0 ] || return 0
  log "apt-get install ${need[*]} (about a minute)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

# cargo_quiet_flag: cargo's progress on a terminal, quiet in CI and pipes.
cargo_quiet_flag() {
  if [ -t 2 ] && [ -z "${CI:-}" ]; then echo ""; else echo "--quiet"; fi
}
