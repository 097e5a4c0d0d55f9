# Run by `cmake --install` (install(SCRIPT)): the files whose place depends on the prefix chosen
# at install time, not at configure time. With the prefix /usr (the .deb, a distribution build)
# the configuration goes to /etc and the unit to /lib/systemd/system (Debian 12 keeps packaged
# units there); with any other prefix both stay under it. DESTDIR is honoured by file(INSTALL).
# Expects BROKER_SOURCE_DIR, BROKER_BINARY_DIR.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc_dir /etc/mcp-auth-broker)
  set(unit_dir /lib/systemd/system)
else()
  set(etc_dir ${CMAKE_INSTALL_PREFIX}/etc/mcp-auth-broker)
  set(unit_dir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(BROKER_BIN ${CMAKE_INSTALL_PREFIX}/bin/mcp-auth-broker)
set(BROKER_ETC_DIR ${etc_dir})
set(BROKER_DOC_DIR ${CMAKE_INSTALL_PREFIX}/share/doc/mcp-auth-broker)
set(unit ${BROKER_BINARY_DIR}/packaging/mcp-auth-broker.service)
configure_file(${BROKER_SOURCE_DIR}/packaging/mcp-auth-broker.service.in ${unit} @ONLY)

file(INSTALL ${unit} DESTINATION ${unit_dir} FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
     WORLD_READ)
file(INSTALL ${BROKER_SOURCE_DIR}/packaging/config.yaml ${BROKER_SOURCE_DIR}/packaging/policy.yaml
     DESTINATION ${etc_dir} FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Secrets: root only.
file(INSTALL ${BROKER_SOURCE_DIR}/packaging/environment DESTINATION ${etc_dir}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE)
