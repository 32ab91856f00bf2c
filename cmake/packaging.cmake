# `cpack -G DEB` in the build folder: one Debian package with everything
# `cmake --install` puts under /usr. dpkg-shlibdeps derives the library
# dependencies (CAF, libstdc++, ...); the ones it cannot see are listed.
set(CPACK_PACKAGE_NAME pyactor)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Python on a supervised pool of worker processes, from C++ and the command line")
set(CPACK_PACKAGE_CONTACT "pyactor maintainers <pyactor@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# libpyactor.so is found by pyactor through its RUNPATH; say where it is staged.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "usr/${CMAKE_INSTALL_LIBDIR}")
# The worker embeds Python ${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR} (its standard library
# comes from the interpreter's package) and runs under /usr/bin/python3.
set(_py python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR})
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_py}, lib${_py}-stdlib, python3 (>= ${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR})")
# Building C++ programs against it (find_package(pyactor), pkg-config) needs these.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libcaf-dev, libmsgpack-cxx-dev, cmake, pkg-config")
include(CPack)
