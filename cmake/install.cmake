# Install rules and the files that let other projects use libvproc:
#   find_package(vproc) -> imported target vproc::vproc   (vprocConfig.cmake)
#   pkg-config vproc    -> -lvproc                          (vproc.pc)
# Included last from the top-level CMakeLists.txt, once every target exists.
include(CMakePackageConfigHelpers)

set(VPROC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vproc)

install(TARGETS vproc EXPORT vprocTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vprocd vproc-run vproc_cli vproc_migrate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vproc DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT vprocTargets NAMESPACE vproc:: FILE vprocTargets.cmake DESTINATION ${VPROC_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/vprocConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/vprocConfig.cmake
  INSTALL_DESTINATION ${VPROC_CMAKE_DIR})
# 0.x releases promise nothing across minor versions.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vprocConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vprocConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/vprocConfigVersion.cmake
  DESTINATION ${VPROC_CMAKE_DIR})

# vproc.pc: paths relative to ${prefix} when they can be, and the prefix filled
# in at install time, so `cmake --install --prefix DIR` gets a correct file.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(VPROC_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(VPROC_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(VPROC_PC_PREFIX "@VPROC_PC_PREFIX@")  # kept for install time
configure_file(${CMAKE_CURRENT_LIST_DIR}/vproc.pc.in ${CMAKE_CURRENT_BINARY_DIR}/vproc.pc.in @ONLY)
install(CODE "
  set(VPROC_PC_TEMPLATE \"${CMAKE_CURRENT_BINARY_DIR}/vproc.pc.in\")
  set(VPROC_PC_OUTPUT \"${CMAKE_CURRENT_BINARY_DIR}/vproc.pc\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/write_pc.cmake\")")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vproc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/docs/usage.md
              ${PROJECT_SOURCE_DIR}/docs/design.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Installing into a temporary prefix and building a consumer against it.
add_test(NAME install:find_package-and-pkg-config
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/install_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install:find_package-and-pkg-config PROPERTIES TIMEOUT 120)
