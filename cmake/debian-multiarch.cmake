# Shared by the cmake/toolchain-*.cmake files: Debian's cross compilers for CROSS_TRIPLET, with the
# target's libraries taken from Debian's multiarch folders (/usr/lib/<triplet>), never the host's.
set(CMAKE_C_COMPILER ${CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${CROSS_TRIPLET})

# The target's packages live in / too (multiarch): search there for libraries, headers and CMake
# packages, but run programs from the host.
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_PATH /usr/lib/${CROSS_TRIPLET})

# FindOpenSSL asks pkg-config first: without this it reports the host's libssl (x86) and the link fails
# or, worse, picks it up. ENV so that try_compile projects see it too.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
