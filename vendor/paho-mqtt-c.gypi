# How the third-party Eclipse Paho MQTT C library is found and linked: the async + TLS
# flavour (libpaho-mqtt3as), from the system (Debian's libpaho-mqtt-dev), a cross sysroot
# (PAHO_SYSROOT) or a local install prefix (PAHO_MQTT_C_ROOT). See vendor/find-paho.js.
{
  'variables': {
    'paho_include%': '<!(node <(module_root_dir)/vendor/find-paho.js include <(target_arch))',
    'paho_libdir%': '<!(node <(module_root_dir)/vendor/find-paho.js libdir <(target_arch))',
  },
  'include_dirs': ['<(paho_include)'],
  'libraries': ['-L<(paho_libdir)', '-lpaho-mqtt3as', '-Wl,-rpath,<(paho_libdir)'],
}
