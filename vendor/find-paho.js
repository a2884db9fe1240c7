#!/usr/bin/env node
'use strict';
// Finds the Eclipse Paho MQTT C library (libpaho-mqtt3as) for binding.gyp, for the host or
// for a cross sysroot, and checks its version is new enough (>= 1.3.6: MQTTAsync_malloc).
//
//   node vendor/find-paho.js include|libdir|version|libraries [target_arch]
//
// Environment:
//   PAHO_MQTT_C_ROOT   a prefix holding include/ and lib/ (a local Paho build), or
//   PAHO_SYSROOT       a cross sysroot with Debian's libpaho-mqtt-dev:<arch> (default: /)
//   PAHO_STATIC=1      link libpaho-mqtt3as.a into the addon (prebuilds do), so the board needs no
//                      Paho, only OpenSSL; its symbols stay private to the addon
const fs = require('node:fs');
const path = require('node:path');

const MIN_VERSION = [1, 3, 6];
const TRIPLETS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', arm: 'arm-linux-gnueabihf', ia32: 'i386-linux-gnu' };

function fail(message) {
  process.stderr.write(`paho-mqtt-redis: ${message}\n`);
  process.exit(1);
}

function candidates(arch) {
  if (process.env.PAHO_MQTT_C_ROOT) {
    const root = process.env.PAHO_MQTT_C_ROOT;
    return [{ include: path.join(root, 'include'), libdirs: [path.join(root, 'lib'), path.join(root, 'lib64')] }];
  }
  const sysroot = process.env.PAHO_SYSROOT || '/';
  const triplet = TRIPLETS[arch] || TRIPLETS[process.arch];
  return [{
    include: path.join(sysroot, 'usr/include'),
    libdirs: [path.join(sysroot, 'usr/lib', triplet), path.join(sysroot, 'usr/lib'), path.join(sysroot, 'usr/local/lib')],
  }];
}

function readVersion(libdir, include) {
  // Debian ships the CMake package version; a plain build may only have the headers.
  const cmake = path.join(libdir, 'cmake/eclipse-paho-mqtt-c/eclipse-paho-mqtt-cConfigVersion.cmake');
  if (fs.existsSync(cmake)) {
    const match = /PACKAGE_VERSION "([0-9.]+)"/.exec(fs.readFileSync(cmake, 'utf8'));
    if (match) return match[1];
  }
  const header = fs.readFileSync(path.join(include, 'MQTTAsync.h'), 'utf8');
  return header.includes('MQTTAsync_malloc') ? '1.3.6+' : '1.3.5-';
}

function atLeast(version, min) {
  const parts = version.replace(/[^0-9.]/g, '').split('.').map(Number);
  if (version.endsWith('-')) return false;
  for (let i = 0; i < min.length; i++) {
    if ((parts[i] || 0) !== min[i]) return (parts[i] || 0) > min[i];
  }
  return true;
}

const STATIC_ARCHIVE = 'libpaho-mqtt3as.a';

function wantsStatic() {
  return ['1', 'true', 'yes', 'on'].includes(String(process.env.PAHO_STATIC || '').toLowerCase());
}

function find(arch) {
  const linkStatic = wantsStatic();
  const libraryFiles = linkStatic ? [STATIC_ARCHIVE] : ['libpaho-mqtt3as.so', STATIC_ARCHIVE];
  for (const c of candidates(arch)) {
    if (!fs.existsSync(path.join(c.include, 'MQTTAsync.h'))) continue;
    const libdir = c.libdirs.find((d) => libraryFiles.some((file) => fs.existsSync(path.join(d, file))));
    if (!libdir) continue;
    const version = readVersion(libdir, c.include);
    if (!atLeast(version, MIN_VERSION)) fail(`Paho MQTT C ${version} found in ${libdir}; version >= ${MIN_VERSION.join('.')} is needed (MQTTAsync_malloc)`);
    return { include: c.include, libdir, version, libraries: libraries(libdir, linkStatic) };
  }
  const wanted = linkStatic ? `MQTTAsync.h and ${STATIC_ARCHIVE} (PAHO_STATIC is set)` : 'MQTTAsync.h and libpaho-mqtt3as';
  fail(`Paho MQTT C (${wanted}) not found for ${arch}. On Debian/Ubuntu: apt-get install libpaho-mqtt-dev` +
    ` (cross: libpaho-mqtt-dev:<arch> and PAHO_SYSROOT=/), or set PAHO_MQTT_C_ROOT to a Paho install prefix.`);
}

// Linker arguments for binding.gyp: the shared library with an rpath to where it was found, or the
// static archive followed by the OpenSSL it needs, with Paho's symbols kept out of the addon's
// exports (--exclude-libs) so they cannot clash with another copy of Paho in the process.
function libraries(libdir, linkStatic) {
  if (linkStatic) {
    return [path.join(libdir, STATIC_ARCHIVE), '-lssl', '-lcrypto', `-Wl,--exclude-libs,${STATIC_ARCHIVE}`];
  }
  return [`-L${libdir}`, '-lpaho-mqtt3as', `-Wl,-rpath,${libdir}`];
}

if (require.main === module) {
  const [what, arch] = process.argv.slice(2);
  const found = find(arch || process.arch);
  if (!(what in found)) fail(`usage: find-paho.js include|libdir|version|libraries [arch]`);
  const value = found[what];
  // binding.gyp reads the list through <!@(...), which splits it on whitespace.
  process.stdout.write(Array.isArray(value) ? value.join(' ') : value);
}

module.exports = { find, atLeast, libraries };
