# Install directories, all relative to the prefix so that an install tree may
# be moved, and the definitions that tell the layout resolver
# (libpyactor/src/install_layout.cpp) how they relate.
include(GNUInstallDirs)

set(PYACTOR_INSTALL_PKGLIBDIR "${CMAKE_INSTALL_LIBDIR}/pyactor" CACHE STRING
  "Private files (the worker program, the Python package), relative to the prefix")
set(PYACTOR_INSTALL_PYTHONDIR "${PYACTOR_INSTALL_PKGLIBDIR}/python" CACHE STRING
  "Directory holding the pyactor Python package, relative to the prefix")
set(PYACTOR_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/pyactor" CACHE STRING
  "CMake package files (pyactorConfig.cmake), relative to the prefix")
set(PYACTOR_INSTALL_CONFIGDIR "${CMAKE_INSTALL_DATADIR}/pyactor/config" CACHE STRING
  "Example configs, relative to the prefix")
set(PYACTOR_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig" CACHE STRING
  "pkg-config file, relative to the prefix")
foreach(dir CMAKE_INSTALL_BINDIR CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR
    PYACTOR_INSTALL_PKGLIBDIR PYACTOR_INSTALL_PYTHONDIR PYACTOR_INSTALL_CMAKEDIR
    PYACTOR_INSTALL_PKGCONFIGDIR)
  if(IS_ABSOLUTE "${${dir}}")
    message(FATAL_ERROR "${dir}='${${dir}}' must be relative to CMAKE_INSTALL_PREFIX: "
      "pyactor installs relocatable trees")
  endif()
endforeach()

# Relative paths between install directories ("" when they are the same).
function(pyactor_relative_path out from to)
  file(RELATIVE_PATH rel "/prefix/${from}" "/prefix/${to}")
  string(REGEX REPLACE "/$" "" rel "${rel}")
  set(${out} "${rel}" PARENT_SCOPE)
endfunction()
pyactor_relative_path(PYACTOR_LIB_TO_PKGLIB "${CMAKE_INSTALL_LIBDIR}" "${PYACTOR_INSTALL_PKGLIBDIR}")
pyactor_relative_path(PYACTOR_BIN_TO_PKGLIB "${CMAKE_INSTALL_BINDIR}" "${PYACTOR_INSTALL_PKGLIBDIR}")
pyactor_relative_path(PYACTOR_BIN_TO_LIB "${CMAKE_INSTALL_BINDIR}" "${CMAKE_INSTALL_LIBDIR}")
pyactor_relative_path(PYACTOR_PKGLIB_TO_PYTHON "${PYACTOR_INSTALL_PKGLIBDIR}" "${PYACTOR_INSTALL_PYTHONDIR}")
pyactor_relative_path(PYACTOR_PKGCONFIG_TO_PREFIX "${PYACTOR_INSTALL_PKGCONFIGDIR}" "")

# In the build tree: executables in build/bin, libpyactor.so in build/lib, the
# Python package in the source tree (a helper that builds extension modules
# into a copy of the package may point this elsewhere before this file).
if(NOT DEFINED PYACTOR_BUILD_PYTHON_DIR)
  set(PYACTOR_BUILD_PYTHON_DIR "${PROJECT_SOURCE_DIR}/python")
endif()

# The _pyactor_worker extension module in the build tree (installed beside
# the package, PYACTOR_INSTALL_PYTHONDIR).
set(PYACTOR_MODULE_DIR ${CMAKE_BINARY_DIR}/python CACHE PATH
  "Where the build puts the _pyactor_worker extension module")

set(PYACTOR_LAYOUT_DEFINITIONS
  PYACTOR_BUILD_MODULE_DIR="${PYACTOR_MODULE_DIR}"
  PYACTOR_LIB_TO_PKGLIB="${PYACTOR_LIB_TO_PKGLIB}"
  PYACTOR_BIN_TO_PKGLIB="${PYACTOR_BIN_TO_PKGLIB}"
  PYACTOR_PREFIX_TO_PKGLIB="${PYACTOR_INSTALL_PKGLIBDIR}"
  PYACTOR_PKGLIB_TO_PYTHON="${PYACTOR_PKGLIB_TO_PYTHON}"
  PYACTOR_BUILD_BIN_DIR="${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
  PYACTOR_BUILD_LIB_DIR="${CMAKE_BINARY_DIR}/lib"
  PYACTOR_BUILD_PYTHON_DIR="${PYACTOR_BUILD_PYTHON_DIR}"
  PYACTOR_VERSION="${PROJECT_VERSION}"
  PYACTOR_PYTHON_VERSION="${Python3_VERSION}"
  PYACTOR_PYTHON_EXECUTABLE="${Python3_EXECUTABLE}")

# Installs an extension module of the pyactor Python package (a MODULE
# library such as pyactor._worker) into the package, beside its .py files.
function(pyactor_install_python_module target)
  install(TARGETS ${target} LIBRARY DESTINATION ${PYACTOR_INSTALL_PYTHONDIR}/pyactor)
endfunction()
