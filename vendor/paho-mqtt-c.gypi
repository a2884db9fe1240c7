# How the third-party Eclipse Paho MQTT C library is found and linked: the async + TLS
# flavour (libpaho-mqtt3as), from the system (Debian's libpaho-mqtt-dev), a cross sysroot
# (PAHO_SYSROOT) or a local install prefix (PAHO_MQTT_C_ROOT); shared by default, static
# with PAHO_STATIC=1 (as the prebuilds are). See vendor/find-paho.js.
{
  'variables': {
    'paho_include%': '<!(node <(module_root_dir)/vendor/find-paho.js include <(target_arch))',
  },
  'include_dirs': ['<(paho_include)'],
  'libraries': ['<!@(node <(module_root_dir)/vendor/find-paho.js libraries <(target_arch))'],
}
