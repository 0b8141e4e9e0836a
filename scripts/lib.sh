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

# fuzz_run TARGET CORPUS SECONDS MAX_LEN: cargo-fuzz (installed when absent) runs
# fuzz/fuzz_targets/TARGET.rs on CORPUS for SECONDS. Nightly with AddressSanitizer when
# rustup has it; else stable with RUSTC_BOOTSTRAP=1 and no sanitizer (coverage guidance
# still works; our parsers have no unsafe code for ASan to watch).
fuzz_run() {
  local target=$1 corpus=$2 secs=$3 max_len=$4 toolchain=() sanitizer=(-s none)
  if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install --locked --quiet cargo-fuzz >&2
  fi
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
    sanitizer=(-s address)
  else
    export RUSTC_BOOTSTRAP=1
  fi
  log "fuzzing $target for ${secs}s (${toolchain[*]:-stable} ${sanitizer[*]})"
  (cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz" &&
    cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" --release "$target" "$corpus" -- \
      -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
}
