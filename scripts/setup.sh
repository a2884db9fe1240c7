#!/usr/bin/env bash
# Sets up everything paho-mqtt-redis needs on Debian/Ubuntu, idempotently: the Debian
# packages (Paho C, Redis, Mosquitto, build tools), the npm packages, the native addon and
# the TypeScript build. Starts Redis (127.0.0.1:6379) and Mosquitto (127.0.0.1:1883) where
# nothing answers there yet, as on a device. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(libpaho-mqtt-dev libssl-dev redis-server redis-tools mosquitto mosquitto-clients
          build-essential python3 make g++ openssl valgrind clang-format cmake nats-server)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_answers 6379; then
  echo "setup: starting redis-server on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/paho-mqtt-redis.log
fi
if ! port_answers 1883; then
  echo "setup: starting mosquitto on 127.0.0.1:1883"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi

# node-gyp builds offline against the installed Node headers.
if [ -z "${npm_config_nodedir:-}" ]; then
  if [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr
  else export npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")"; fi
fi
npm ci --no-audit --no-fund --loglevel=error   # runs the addon build (install script)
npm run --silent build:ts
echo "setup: done ($(node -p "require('./dist/index.js').pahoVersion().Version") Paho C, Node $(node -v))"
