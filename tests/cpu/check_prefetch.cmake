# Checks that the object code of each kernel that prefetches its stream in
# software (PrefetchAhead, agent/cpu/simd_helpers_x86.h) still holds its
# prefetchnta: GCC 12 once deleted every call of it from the Q2_K and Q8_0
# kernels, which then read at a third of the rate on Zen 5 with all their
# tests passing (docs/performance.md, "Zen 5 again").
#
#   cmake -DOBJDUMP=objdump "-DOBJECTS=a.o;b.o" -P check_prefetch.cmake
set(kernels matmul_f16_avx512 matmul_q8_0_avx512 matmul_q4_k_avx512 matmul_q2_k_avx512
            matmul_q8_0_avx2 matmul_q4_k_avx2 matmul_q2_k_avx2 read_bandwidth_avx2)
# Kernels whose decode prefetches from more than one place hold at least this
# many prefetch loops: the Q4_K decode blocks (AVX-512, AVX2 and AVX-VNNI)
# send half their lines out from within the block, a prefetch that GCC
# dropped once in a scratch build while keeping the other
# (docs/performance.md, "Q4_K decode: the stream prefetch in two halves").
set(min_matmul_q4_k_avx512 2)
set(min_matmul_q4_k_avx2 2)
foreach(kernel IN LISTS kernels)
  set(min 1)
  if(DEFINED min_${kernel})
    set(min ${min_${kernel}})
  endif()
  # Every object built from the kernel's file: the AVX2 kernels listed in
  # AISCORE_AVXVNNI_SOURCES have a second one, built for AVX-VNNI.
  set(objects "")
  foreach(candidate IN LISTS OBJECTS)
    if(candidate MATCHES "/${kernel}\\.cc\\.o(bj)?$")
      list(APPEND objects "${candidate}")
    endif()
  endforeach()
  if(objects STREQUAL "")
    message(FATAL_ERROR "check_prefetch: no object file for ${kernel} among ${OBJECTS}")
  endif()
  foreach(object IN LISTS objects)
    execute_process(COMMAND "${OBJDUMP}" -d --no-show-raw-insn "${object}"
                    OUTPUT_VARIABLE code RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "check_prefetch: ${OBJDUMP} -d ${object} failed (${rc})")
    endif()
    string(REGEX MATCHALL "prefetchnta" found "${code}")
    list(LENGTH found count)
    if(count LESS min)
      message(FATAL_ERROR "check_prefetch: ${object} has ${count} prefetchnta where it needs "
                          "${min}: the compiler dropped its PrefetchAhead")
    endif()
    message(STATUS "${object}: ${count} prefetchnta")
  endforeach()
endforeach()
