#!/usr/bin/env bash
# The bridge and client suites against an AddressSanitizer build of the addon
# (binding.gyp's PMR_SANITIZE=address), built apart in .asan/ so the normal build stays and
# loaded through PAHO_MQTT_REDIS_ADDON. Node is not instrumented, so libasan is preloaded. Leak
# detection is off for the suites (a process that exits with live clients leaves Node's and
# Paho's allocations behind, not ours to judge), then on (LeakSanitizer) for the worker teardown
# suite, whose process exits normally: a client a terminated worker leaves behind is reported;
# and at the end of processes that exit with live clients, reports read for the addon's own leaks.
# Any report aborts the process, which fails its test.
set -euo pipefail
cd "$(dirname "$0")/.."
asan_dir=.asan
rm -rf "$asan_dir"
mkdir -p "$asan_dir"
cp -r binding.gyp native vendor "$asan_dir"/
(cd "$asan_dir" && PMR_SANITIZE=address PAHO_REDIS_TEST_BUILD=1 node-gyp rebuild --nodedir="${npm_config_nodedir:-/usr}" >build.log 2>&1) ||
  { tail -30 "$asan_dir/build.log"; exit 1; }
npm run build:ts >/dev/null
npm run build:test >/dev/null
# The test build: the shipped addon plus the driver the bridge suites call it with.
export PAHO_MQTT_REDIS_ADDON="$PWD/$asan_dir/build/Release/paho_mqtt_redis_test.node"
LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export LD_PRELOAD
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
suites=(
  out/test/native/bridge.test.js
  out/test/native/bridge-failures.test.js
  out/test/native/bridge-teardown.test.js
  out/test/native/key-ledger.test.js
  out/test/native/operation-log.test.js
  out/test/native/operation-log-refusals.test.js
  out/test/native/operation-log-publish.test.js
  out/test/native/operation-log-bounds.test.js
  out/test/native/operation-log-pipeline.test.js
  out/test/native/operation-log-outage-order.test.js
  out/test/native/store-outage.test.js
  out/test/native/client-teardown-leaks.test.js
  out/test/integration/client.test.js
  out/test/integration/client-roundtrip.test.js
  out/test/integration/client-lifecycle.test.js
  out/test/integration/client-errors.test.js
  out/test/integration/client-persistence.test.js
  out/test/integration/client-store-failures.test.js
  out/test/integration/client-teardown.test.js
  out/test/integration/restore-check.test.js
  out/test/integration/inbound-backpressure.test.js
)
node --test --test-concurrency=1 "${suites[@]}"
# Leaks: workers terminated with a full publish window or a receive thread in a delivery gate.
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1" \
  node --test --test-concurrency=1 out/test/native/client-teardown-leaks.test.js
# Leaks at process end (exit(), an uncaught exception, a natural exit): each case in a child
# process whose LeakSanitizer report is read for leaks allocated by the addon.
PMR_LSAN=1 node --test --test-concurrency=1 out/test/native/exit-leaks.test.js
