# `cmake --install`: a relocatable tree (docs/install.md).
#
#   PREFIX/bin/aiscore, PREFIX/bin/aiscore-collector      component Runtime
#   PREFIX/lib/*.so*                                      their shared libraries
#   PREFIX/libexec/aiscore/tests/cuda_*_test              component gputests
#
# The programs find their libraries through RPATH $ORIGIN/../lib, so the
# tree works wherever it is copied. DT_RPATH, not the linker's default
# DT_RUNPATH: the loader searches an executable's RPATH for the libraries its
# libraries need too (libgrpc's libupb, ...), a RUNPATH only for its own.
# PREFIX/lib holds every shared library the installed programs need except
# those the target machine must provide: glibc's (libc, libm, libdl,
# libpthread, librt, ld-linux, ...), the C++ runtime (libstdc++, libgcc_s: a
# newer system's are supersets of the build's, and shipping the older ones
# would shadow them for every library in the process), the GPU driver
# (libcuda) and the CUDA toolkit's libraries (libcublas, libcublasLt,
# libcudart; the driver and toolkit must match the machine). In a CUDA build
# the RPATH also names the toolkit's usual place, /usr/local/cuda/lib64, after
# $ORIGIN/../lib (an RPATH comes before LD_LIBRARY_PATH, so a cuBLAS there is
# the one used).
#
# scripts/make-dist.sh builds and installs both components into ./dist.

set(AISCORE_INSTALL_LIBDIR lib)
set(AISCORE_INSTALL_TESTDIR libexec/aiscore/tests)
set(aiscore_rpath_extra "")  # a list appended to each RPATH; no empty entries (they mean ".")
if(AISCORE_HAVE_CUDA)
  set(aiscore_rpath_extra "/usr/local/cuda/lib64")
endif()

# Shared libraries the target machine provides (matched against the names
# the programs ask for, before they are looked up).
set(AISCORE_SYSTEM_LIBRARY_REGEXES
    "^ld-linux" "^linux-vdso" "^libc\\.so" "^libm\\.so" "^libdl\\.so" "^libpthread\\.so"
    "^librt\\.so" "^libresolv\\.so" "^libutil\\.so" "^libanl\\.so" "^libnsl\\.so"
    "^libmvec\\.so" "^libstdc\\+\\+\\.so" "^libgcc_s\\.so" "^libcuda\\.so" "^libnvidia-"
    "^libcublas\\.so" "^libcublasLt\\.so" "^libcudart\\.so")

# install(CODE) for one component: copies the shared libraries that the
# targets' executables need into PREFIX/lib. The build tree's executables are
# examined, not the installed ones, whose RPATH would find earlier copies
# in PREFIX/lib that then conflict with the system's copies of the same
# libraries.
function(aiscore_install_runtime_libraries component)
  cmake_parse_arguments(ARG "EXCLUDE_FROM_ALL" "" "" ${ARGN})
  set(exclude_from_all "")
  if(ARG_EXCLUDE_FROM_ALL)
    set(exclude_from_all EXCLUDE_FROM_ALL)
  endif()
  set(files "")
  foreach(target IN LISTS ARG_UNPARSED_ARGUMENTS)
    list(APPEND files "$<TARGET_FILE:${target}>")
  endforeach()
  # Bracket arguments: the regexes' backslashes reach the script as they are.
  install(CODE "set(aiscore_files [==[${files}]==])
set(aiscore_exclude [==[${AISCORE_SYSTEM_LIBRARY_REGEXES}]==])
set(aiscore_libdir [==[${AISCORE_INSTALL_LIBDIR}]==])"
          COMPONENT ${component} ${exclude_from_all})
  install(CODE [[
    file(GET_RUNTIME_DEPENDENCIES
         EXECUTABLES ${aiscore_files}
         RESOLVED_DEPENDENCIES_VAR resolved
         UNRESOLVED_DEPENDENCIES_VAR unresolved
         PRE_EXCLUDE_REGEXES ${aiscore_exclude})
    if(unresolved)
      message(FATAL_ERROR "aiscore install: cannot find the shared libraries ${unresolved}")
    endif()
    # Each library as a plain file under the name the programs ask for (its
    # soname), not a chain of symlinks: the tree survives any copy.
    foreach(library IN LISTS resolved)
      get_filename_component(name "${library}" NAME)
      file(REAL_PATH "${library}" real)
      file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${aiscore_libdir}"
           TYPE FILE RENAME "${name}" FILES "${real}")
    endforeach()
  ]] COMPONENT ${component} ${exclude_from_all})
endfunction()

# The programs.
set(aiscore_programs aiscore aiscore-collector)
set(aiscore_rpath "$ORIGIN/../${AISCORE_INSTALL_LIBDIR}" ${aiscore_rpath_extra})
set_target_properties(${aiscore_programs} PROPERTIES INSTALL_RPATH "${aiscore_rpath}")
target_link_options(aiscore PRIVATE "LINKER:--disable-new-dtags")
target_link_options(aiscore-collector PRIVATE "LINKER:--disable-new-dtags")
install(TARGETS ${aiscore_programs} RUNTIME DESTINATION bin COMPONENT Runtime)
aiscore_install_runtime_libraries(Runtime ${aiscore_programs})

# The CUDA tests (tests/cuda), for scripts/gpu-check.sh on a GPU machine:
# installed only when asked for (cmake --install BUILD --component gputests).
get_property(aiscore_gpu_tests GLOBAL PROPERTY AISCORE_GPU_TEST_TARGETS)
if(aiscore_gpu_tests)
  set(aiscore_rpath "$ORIGIN/../../../${AISCORE_INSTALL_LIBDIR}" ${aiscore_rpath_extra})
  set_target_properties(${aiscore_gpu_tests} PROPERTIES INSTALL_RPATH "${aiscore_rpath}")
  foreach(t IN LISTS aiscore_gpu_tests)
    target_link_options(${t} PRIVATE "LINKER:--disable-new-dtags")
  endforeach()
  install(TARGETS ${aiscore_gpu_tests} RUNTIME DESTINATION ${AISCORE_INSTALL_TESTDIR}
          COMPONENT gputests EXCLUDE_FROM_ALL)
  aiscore_install_runtime_libraries(gputests ${aiscore_gpu_tests} EXCLUDE_FROM_ALL)
endif()

# Everything the install needs, for scripts/make-dist.sh to build alone:
# cmake --build BUILD --target aiscore_install_targets.
add_custom_target(aiscore_install_targets)
add_dependencies(aiscore_install_targets ${aiscore_programs} ${aiscore_gpu_tests})
