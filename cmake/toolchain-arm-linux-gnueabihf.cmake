# CMake toolchain for 32-bit ARM Linux, hard float (armhf, ARMv7) with Debian's cross compiler
# (g++-arm-linux-gnueabihf) and multiarch target libraries (libpaho-mqtt-dev:armhf, libssl-dev:armhf).
# scripts/install-cross.sh armhf installs them. An SDK (Yocto, Buildroot) brings its own toolchain file.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CROSS_TRIPLET arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
# GCC's note that the ARM calling convention for some arguments changed in GCC 7.1 does not concern a
# library built by one compiler.
set(CMAKE_CXX_FLAGS_INIT -Wno-psabi)
