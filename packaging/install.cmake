# What `cmake --install` puts where, and the Debian package CPack makes of it
# (tools/package.sh). Paths are relative to the prefix: /usr in the package, /usr/local by
# default for `cmake --install`; systemd and man look in both.
include(GNUInstallDirs)

# Man pages and completions, generated from the command line of the objspy just built.
set(OBJSPY_GENERATED "${CMAKE_BINARY_DIR}/generated")
set(OBJSPY_DEB_CHANGELOG "${CMAKE_CURRENT_LIST_DIR}/debian/changelog")
add_custom_command(
  OUTPUT "${OBJSPY_GENERATED}/stamp"
  COMMAND "${CMAKE_COMMAND}" -DOBJSPY=$<TARGET_FILE:objspy> "-DOUT=${OBJSPY_GENERATED}"
          "-DREADME=${PROJECT_SOURCE_DIR}/README.md" "-DCHANGELOG=${OBJSPY_DEB_CHANGELOG}"
          -P "${CMAKE_CURRENT_LIST_DIR}/generate_docs.cmake"
  DEPENDS objspy "${CMAKE_CURRENT_LIST_DIR}/generate_docs.cmake" "${PROJECT_SOURCE_DIR}/README.md"
          "${OBJSPY_DEB_CHANGELOG}"
  COMMENT "Generating man pages and shell completions from objspy's command line")
add_custom_target(objspy_generated_docs ALL DEPENDS "${OBJSPY_GENERATED}/stamp")

set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(TARGETS objspy RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY "${OBJSPY_GENERATED}/man/" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        FILES_MATCHING PATTERN "*.1.gz")
install(FILES "${OBJSPY_GENERATED}/completions/objspy.bash"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME objspy)
install(FILES "${OBJSPY_GENERATED}/completions/_objspy" DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
install(FILES "${OBJSPY_GENERATED}/completions/objspy.fish" DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)
install(FILES "${OBJSPY_GENERATED}/doc/README.md.gz" "${OBJSPY_GENERATED}/doc/changelog.Debian.gz"
              "${CMAKE_CURRENT_LIST_DIR}/debian/copyright"
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES "${CMAKE_CURRENT_LIST_DIR}/debian/lintian-overrides" DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        RENAME objspy)

# The units (not enabled: they are templates, one instance per service) and the cron example
# (an example, under doc: an active /etc/cron.d file would run against a made-up PID file).
# Both name objspy as /usr/local/bin/objspy, where `cmake --install` puts it by default; the
# installed copies name the binary where this install puts it.
file(GLOB OBJSPY_UNITS "${CMAKE_CURRENT_LIST_DIR}/*.service" "${CMAKE_CURRENT_LIST_DIR}/*.timer")
set(OBJSPY_CRON "${CMAKE_CURRENT_LIST_DIR}/objspy-growth.cron")
install(CODE "
  set(_objspy \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/objspy\")
  set(_tmp \"${CMAKE_BINARY_DIR}/install-packaging\")
  file(REMOVE_RECURSE \"\${_tmp}\")
  file(MAKE_DIRECTORY \"\${_tmp}/units\" \"\${_tmp}/examples\")
  foreach(_f ${OBJSPY_UNITS} ${OBJSPY_CRON})
    get_filename_component(_name \"\${_f}\" NAME)
    set(_dir units)
    if(_name MATCHES \"cron$\")
      set(_dir examples)
    endif()
    file(READ \"\${_f}\" _text)
    string(REPLACE /usr/local/bin/objspy \"\${_objspy}\" _text \"\${_text}\")
    file(WRITE \"\${_tmp}/\${_dir}/\${_name}\" \"\${_text}\")
  endforeach()
  file(GLOB _units \"\${_tmp}/units/*\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE FILES \${_units})
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}/examples\" TYPE FILE
       FILES \"\${_tmp}/examples/objspy-growth.cron\")
")

# The Debian package. Its version is the top entry of packaging/debian/changelog, whose
# upstream part must be the project's version (checked by tools/package.sh and the deb test).
file(STRINGS "${OBJSPY_DEB_CHANGELOG}" _top LIMIT_COUNT 1)
if(NOT _top MATCHES "^objspy \\(([^-)]+)-([^)]+)\\)")
  message(FATAL_ERROR "${OBJSPY_DEB_CHANGELOG}: the first line is not 'objspy (VERSION-REVISION) ...'")
endif()
set(OBJSPY_DEB_UPSTREAM "${CMAKE_MATCH_1}")
set(OBJSPY_DEB_REVISION "${CMAKE_MATCH_2}")
if(NOT OBJSPY_DEB_UPSTREAM STREQUAL PROJECT_VERSION)
  message(WARNING "${OBJSPY_DEB_CHANGELOG} is for ${OBJSPY_DEB_UPSTREAM}, the project is ${PROJECT_VERSION}: "
                  "add a changelog entry before packaging (tools/package.sh refuses)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME objspy)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_DEBIAN_PACKAGE_RELEASE "${OBJSPY_DEB_REVISION}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "objspy maintainers <maintainers@users.noreply.r-seed-6986489a.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "count the objects of a running CPython process, read-only")
set(CPACK_PACKAGE_DESCRIPTION
"objspy finds memory leaks in running CPython processes from the outside. It
attaches to a PID read-only (process_vm_readv: no code injection, no debugger,
the target is not stopped) and prints per-type object counts exactly as
objgraph.show_most_common_types() would print them inside the target.
It records censuses over time and ranks leak suspects, shows a live view, and
serves the census to Prometheus. Python 3.8 to 3.15 are supported.")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime dependencies from the libraries the binary links (dpkg-shlibdeps, from dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
include(CPack)
