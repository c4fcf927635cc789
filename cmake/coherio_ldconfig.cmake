# cmake/coherio_ldconfig.cmake - run at the end of `cmake --install` (script
# mode; CIO_LIBDIR is the library directory, relative to CMAKE_INSTALL_PREFIX
# or absolute). So that a program linked against libcoherio.so.0 starts right
# after an install, it runs ldconfig when:
#   - DESTDIR is empty (a staged install for a package: the package manager
#     runs ldconfig when the package is installed), and
#   - the library directory is one the dynamic loader searches (listed by
#     `ldconfig -v -N -X`: /etc/ld.so.conf and the built-in directories;
#     /usr/local/lib is one on Debian), and
#   - we are root (ldconfig writes /etc/ld.so.cache).
# Otherwise it says what to do instead. This is meson's convention too.
# Programs in a prefix the loader does not search need an RPATH
# (-Wl,-rpath,LIBDIR; CMake consumers of coherio::coherio get one in the
# build tree) or LD_LIBRARY_PATH.
if(IS_ABSOLUTE "${CIO_LIBDIR}")
  set(_cio_libdir "${CIO_LIBDIR}")
else()
  set(_cio_libdir "${CMAKE_INSTALL_PREFIX}/${CIO_LIBDIR}")
endif()
get_filename_component(_cio_real "${_cio_libdir}" REALPATH)

find_program(_cio_ldconfig ldconfig PATHS /sbin /usr/sbin NO_CACHE)
set(_cio_searched FALSE)
if(_cio_ldconfig)
  execute_process(COMMAND "${_cio_ldconfig}" -v -N -X
    OUTPUT_VARIABLE _cio_out ERROR_QUIET RESULT_VARIABLE _cio_rc)
  # lines "DIR: (from FILE:LINE)"; library lines start with a tab
  string(REPLACE "\n" ";" _cio_lines "${_cio_out}")
  foreach(_l IN LISTS _cio_lines)
    if(_l MATCHES "^([^\t][^:]*):")
      get_filename_component(_d "${CMAKE_MATCH_1}" REALPATH)
      if(_d STREQUAL _cio_real)
        set(_cio_searched TRUE)
      endif()
    endif()
  endforeach()
endif()
execute_process(COMMAND id -u OUTPUT_VARIABLE _cio_uid OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)

if(NOT "$ENV{DESTDIR}" STREQUAL "")
  # staged install: nothing to do
elseif(_cio_searched AND _cio_uid STREQUAL "0")
  execute_process(COMMAND "${_cio_ldconfig}" RESULT_VARIABLE _cio_rc)
  if(_cio_rc EQUAL 0)
    message(STATUS "coherio: ran ldconfig (${_cio_libdir} is on the loader's path)")
  else()
    message(WARNING "coherio: ldconfig failed (${_cio_rc}); run it before starting programs linked against libcoherio.so.0")
  endif()
elseif(_cio_searched)
  message(STATUS "coherio: run ldconfig as root, so that programs find libcoherio.so.0 in ${_cio_libdir}")
else()
  message(STATUS "coherio: ${_cio_libdir} is not on the dynamic loader's path: link programs with -Wl,-rpath,${_cio_libdir} or set LD_LIBRARY_PATH=${_cio_libdir}")
endif()
