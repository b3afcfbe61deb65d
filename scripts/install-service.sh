#!/usr/bin/env bash
# Installs `warren serve` as the systemd service `warren` from this checkout, as root:
#   sudo scripts/install-service.sh              install, enable and start it
#   sudo scripts/install-service.sh --uninstall  stop, disable and remove it
#   scripts/install-service.sh --print           print the unit it would install (no root)
# The unit runs this checkout's bin/warren.js with the node found on PATH (build first: npm ci).
# Idempotent: a second install rewrites the unit and restarts the service.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# the tests install into a temp dir with a fake systemctl: never into the machine's own
unit_dir="${WARREN_UNIT_DIR:-/etc/systemd/system}"
systemd_run="${WARREN_SYSTEMD_RUN:-/run/systemd/system}"
unit="$unit_dir/warren.service"
mode="${1:-install}"

fill() {
  local node
  node="$(command -v node)" || { echo "install-service: node is not on PATH" >&2; exit 1; }
  case "$root$node" in
    *[[:space:]]*) echo "install-service: a path with a space cannot go in the unit's ExecStart ($root, $node)" >&2; exit 1 ;;
  esac
  # % starts a systemd specifier: a literal one is %%
  local r="${root//%/%%}" n="${node//%/%%}"
  sed -e "s|@NODE@|$n|g" -e "s|@WARREN@|$r/bin/warren.js|g" -e "s|@ROOT@|$r|g" "$root/scripts/warren.service"
}

case "$mode" in
  --print) fill; exit 0 ;;
  install|--uninstall) ;;
  *) echo "usage: $0 [--print | --uninstall]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "install-service: run as root (sudo $0 $*)" >&2
  exit 1
fi
if [ ! -d "$systemd_run" ]; then
  echo "install-service: systemd is not running on this machine (no $systemd_run)" >&2
  exit 1
fi

if [ "$mode" = --uninstall ]; then
  systemctl disable --now warren.service 2>/dev/null || true
  rm -f "$unit"
  systemctl daemon-reload
  echo "install-service: removed $unit"
  exit 0
fi

[ -f "$root/dist/warren/main.js" ] || { echo "install-service: warren is not built here: run npm ci (or scripts/setup.sh) first" >&2; exit 1; }
fill > "$unit.tmp"
mv "$unit.tmp" "$unit"
systemctl daemon-reload
systemctl enable warren.service
systemctl restart warren.service
echo "install-service: $unit installed and started; logs: journalctl -u warren -f; the token: sudo cat /var/lib/warren/token"
