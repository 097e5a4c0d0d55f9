# Tests of the install layout, the .deb and the systemd unit (tests/package/), and the seccomp
# launcher the sandbox test runs the broker under. Included after the test targets exist.
find_library(SECCOMP_LIBRARY seccomp)
find_path(SECCOMP_INCLUDE_DIR seccomp.h)
if(SECCOMP_LIBRARY AND SECCOMP_INCLUDE_DIR)
  add_executable(seccomp_exec ${CMAKE_SOURCE_DIR}/tests/package/seccomp_exec.cpp)
  target_compile_options(seccomp_exec PRIVATE ${BROKER_WARNINGS})
  target_include_directories(seccomp_exec PRIVATE ${SECCOMP_INCLUDE_DIR})
  target_link_libraries(seccomp_exec PRIVATE ${SECCOMP_LIBRARY})
  set(BROKER_SECCOMP_EXEC $<TARGET_FILE:seccomp_exec>)
  if(TARGET integration_tests)
    add_dependencies(integration_tests seccomp_exec)
  endif()
else()
  message(WARNING "libseccomp-dev not found: the sandbox test will fail (scripts/deps --test)")
  set(BROKER_SECCOMP_EXEC "")
endif()
if(TARGET integration_tests)
  target_compile_definitions(integration_tests PRIVATE SECCOMP_EXEC="${BROKER_SECCOMP_EXEC}")
endif()

# Builds the .deb with cpack, then checks its contents, its unit and a scratch-root install.
add_test(NAME package_deb
         COMMAND ${CMAKE_SOURCE_DIR}/tests/package/package_test.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(package_deb PROPERTIES LABELS integration TIMEOUT 300 RUN_SERIAL TRUE)
