# Install-time step of install.cmake: writes vproc.pc with the prefix being
# installed to (CMAKE_INSTALL_PREFIX as `cmake --install` sets it).
set(VPROC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
configure_file("${VPROC_PC_TEMPLATE}" "${VPROC_PC_OUTPUT}" @ONLY)
