# cmake/coherio_install.cmake - what `cmake --install` puts where, and the
# packages consumers find it with (included from the top CMakeLists.txt):
#   - the libraries, the header, the CMake package (coherioConfig.cmake,
#     coherioConfigVersion.cmake, coherioTargets.cmake: coherio::coherio and
#     coherio::coherio_static), also exported from the build tree;
#   - coherio.pc, written at install time so that its prefix is the one
#     installed to (`cmake --install build --prefix /opt/x` works, not only
#     the configure-time CMAKE_INSTALL_PREFIX);
#   - the man pages (man/);
#   - ldconfig after an install to a prefix the dynamic loader searches, as
#     root, without DESTDIR (as meson does), so that programs linked against
#     the fresh libcoherio.so.0 start at once.
include(CMakePackageConfigHelpers)

set(COHERIO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/coherio)

install(TARGETS coherio coherio_static EXPORT coherioTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/coherio.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# --- CMake package: install tree --------------------------------------------
install(EXPORT coherioTargets NAMESPACE coherio:: DESTINATION ${COHERIO_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/coherioConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake-install/coherioConfig.cmake
  INSTALL_DESTINATION ${COHERIO_CMAKE_DIR})
# One soname per major version (docs/abi.md): any 0.x satisfies a request
# for an older or equal 0.y.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/coherioConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake-install/coherioConfig.cmake
  ${CMAKE_BINARY_DIR}/coherioConfigVersion.cmake DESTINATION ${COHERIO_CMAKE_DIR})

# --- CMake package: build tree (coherio_DIR=<build dir>) ----------------------
export(EXPORT coherioTargets NAMESPACE coherio:: FILE ${CMAKE_BINARY_DIR}/coherioTargets.cmake)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/coherioConfig.cmake.in
  ${CMAKE_BINARY_DIR}/coherioConfig.cmake
  INSTALL_DESTINATION ${CMAKE_BINARY_DIR} INSTALL_PREFIX ${CMAKE_BINARY_DIR})

# --- pkg-config ---------------------------------------------------------------
# coherio.pc.in is configured twice: now, for everything but the prefix
# (@CIO_PC_PREFIX@ stays a placeholder), and at install time with the prefix
# being installed to. libdir and includedir are ${prefix}-relative unless
# GNUInstallDirs was given absolute ones.
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(CIO_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(CIO_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
set(CIO_PC_PREFIX "@CIO_PC_PREFIX@")
configure_file(${CMAKE_SOURCE_DIR}/coherio.pc.in ${CMAKE_BINARY_DIR}/coherio.pc.tmpl @ONLY)
# The build-tree coherio.pc (prefix = the configure-time prefix), kept for
# anyone who used it; installs write their own.
set(CIO_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
configure_file(${CMAKE_BINARY_DIR}/coherio.pc.tmpl ${CMAKE_BINARY_DIR}/coherio.pc @ONLY)
install(CODE "
  set(CIO_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/coherio.pc.tmpl\" \"${CMAKE_BINARY_DIR}/pc-install/coherio.pc\" @ONLY)
")
install(FILES ${CMAKE_BINARY_DIR}/pc-install/coherio.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# --- man pages ------------------------------------------------------------------
if(EXISTS ${CMAKE_SOURCE_DIR}/man)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}
    FILES_MATCHING PATTERN "*.[137]")
endif()

# --- ldconfig -------------------------------------------------------------------
# Registered last, from the top CMakeLists.txt after every add_subdirectory()
# (install steps run in order; the preload library is installed from
# preload/): see cmake/coherio_ldconfig.cmake for when it runs ldconfig.
function(coherio_install_ldconfig)
  install(CODE "set(CIO_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
    include(\"${CMAKE_SOURCE_DIR}/cmake/coherio_ldconfig.cmake\")")
endfunction()
