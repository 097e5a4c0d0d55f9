# `cmake --install` and CPack (.deb): the binary, the migrations, an example config and policy,
# and a hardened systemd unit. Included from the top-level CMakeLists.txt.
include(GNUInstallDirs)

set(BROKER_PACKAGE mcp-auth-broker)
install(TARGETS mcp-auth-broker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The migrations are compiled into the binary; the files are there to read and audit.
install(FILES ${BROKER_MIGRATIONS} DESTINATION ${CMAKE_INSTALL_DATADIR}/${BROKER_PACKAGE}/sql)
# The unit and /etc: placed by the prefix given at install time (cmake/install_service.cmake).
install(CODE "set(BROKER_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
  set(BROKER_BINARY_DIR \"${CMAKE_BINARY_DIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_service.cmake)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/POLICY.md
              ${CMAKE_SOURCE_DIR}/docs/SECURITY.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${BROKER_PACKAGE})
install(FILES ${CMAKE_SOURCE_DIR}/config/production.example.yaml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${BROKER_PACKAGE}/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/policies/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${BROKER_PACKAGE}/examples/policies
        FILES_MATCHING PATTERN "*.yaml")

# ---- CPack: a .deb --------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
# Installs with the prefix /usr under a staging DESTDIR, so /etc and /lib/systemd land right.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_NAME ${BROKER_PACKAGE})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "mcp-auth-broker developers <dev@mcp-auth-broker.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "OAuth 2.1 authorization server and identity broker for MCP servers")
set(CPACK_PACKAGE_INSTALL_DIRECTORY ${BROKER_PACKAGE})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends come from dpkg-shlibdeps: the Debian package of every shared library the binary links
# (libpistache, libpqxx, libyaml-cpp, libssl3, libcurl4, ...), with the versions it was built on.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql, nginx")
# The files under /etc are the operator's once installed: upgrades keep their edits.
set(BROKER_CONFFILES ${CMAKE_BINARY_DIR}/packaging/conffiles)
file(WRITE ${BROKER_CONFFILES} "/etc/mcp-auth-broker/config.yaml\n/etc/mcp-auth-broker/policy.yaml\n"
                               "/etc/mcp-auth-broker/environment\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${BROKER_CONFFILES})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
