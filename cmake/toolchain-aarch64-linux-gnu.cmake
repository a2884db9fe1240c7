# CMake toolchain for 64-bit ARM Linux (arm64) with Debian's cross compiler (g++-aarch64-linux-gnu)
# and multiarch target libraries (libpaho-mqtt-dev:arm64, libssl-dev:arm64) under /usr/lib/aarch64-linux-gnu.
# scripts/install-cross.sh arm64 installs them. An SDK (Yocto, Buildroot) brings its own toolchain file.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CROSS_TRIPLET aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
