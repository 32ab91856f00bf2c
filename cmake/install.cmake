# `cmake --install build --prefix PREFIX`: the pyactor command, the worker,
# the shared library, the public headers, the Python package, example
# configs, a CMake package (pyactor::pyactor) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS pyactor-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS pyactor-worker RUNTIME DESTINATION ${PYACTOR_INSTALL_PKGLIBDIR})
install(TARGETS pyactor-shared EXPORT pyactorTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The API only: actors/ and worker/ are internals.
set(_pyactor_include ${PROJECT_SOURCE_DIR}/libpyactor/include/pyactor)
install(FILES
  ${_pyactor_include}/pyactor.hpp
  ${_pyactor_include}/runtime.hpp
  ${_pyactor_include}/parallel.hpp
  ${_pyactor_include}/value.hpp
  ${_pyactor_include}/error.hpp
  ${_pyactor_include}/runtime_options.hpp
  ${_pyactor_include}/cluster.hpp
  ${_pyactor_include}/cluster_config.hpp
  ${_pyactor_include}/limits.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pyactor)
install(FILES
  ${_pyactor_include}/codec/literal.hpp
  ${_pyactor_include}/codec/msgpack.hpp
  ${_pyactor_include}/codec/msgpack_writer.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pyactor/codec)

# The package the workers load (its tests stay in the source tree).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/pyactor
  DESTINATION ${PYACTOR_INSTALL_PYTHONDIR}
  PATTERN tests EXCLUDE
  PATTERN __pycache__ EXCLUDE
  PATTERN "*.pyc" EXCLUDE)
# Its bytecode, compiled where it was installed: workers run with -B and would
# otherwise compile the package at every start.
install(CODE "execute_process(COMMAND \"${Python3_EXECUTABLE}\" -E -c
  \"import compileall, sys; sys.exit(not compileall.compile_dir(sys.argv[1], maxlevels=0, quiet=1))\"
  \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${PYACTOR_INSTALL_PYTHONDIR}/pyactor\"
  RESULT_VARIABLE pyactor_compiled)
if(NOT pyactor_compiled EQUAL 0)
  message(WARNING \"pyactor: could not compile the installed package's bytecode; workers will start slower\")
endif()")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/ DESTINATION ${PYACTOR_INSTALL_CONFIGDIR})

install(EXPORT pyactorTargets NAMESPACE pyactor:: DESTINATION ${PYACTOR_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pyactorConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pyactorConfig.cmake
  INSTALL_DESTINATION ${PYACTOR_INSTALL_CMAKEDIR})
# Before 1.0 a minor release may break the API: only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pyactorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pyactorConfig.cmake
  ${PROJECT_BINARY_DIR}/pyactorConfigVersion.cmake
  DESTINATION ${PYACTOR_INSTALL_CMAKEDIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/pyactor.pc.in ${PROJECT_BINARY_DIR}/pyactor.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pyactor.pc DESTINATION ${PYACTOR_INSTALL_PKGCONFIGDIR})
