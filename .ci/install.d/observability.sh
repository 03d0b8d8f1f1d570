#!/usr/bin/env bash
# Real Prometheus, promtool and Alertmanager (Debian) for the observability tests:
# `promtool check metrics` on /metrics, `promtool test rules` on deploy/prometheus, and the
# end-to-end Prometheus -> Alertmanager -> webhook integration test.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 \
    && command -v prometheus-alertmanager >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# --no-install-recommends: no node exporter / service start-up; only the binaries are used.
apt-get install -y --no-install-recommends prometheus prometheus-alertmanager
# The packages start their services under systemd where it runs; the tests start their own
# instances on random loopback ports, so the system services are not needed.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi
