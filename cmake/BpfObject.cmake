# ipctrace_bpf_skeleton(<target> NAME <skeleton name> SOURCES <a.bpf.c>... [DEPENDS <header>...])
#
# Compiles each .bpf.c with clang for the BPF target (CO-RE, BTF; -Werror under IPCTRACE_WERROR),
# links the objects into one with `bpftool gen object`, and generates one
# skeleton header `<name>.skel.h` from it. <target> is an INTERFACE library:
# link it to get the skeleton's include directory and the build ordering.
#
# Header dependencies of each .bpf.c are tracked through clang's depfile.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(IPCTRACE_BPF_ARCH x86)
  set(IPCTRACE_VMLINUX_ARCH x86_64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(IPCTRACE_BPF_ARCH arm64)
  set(IPCTRACE_VMLINUX_ARCH aarch64)
else()
  message(FATAL_ERROR "ipctrace: no BPF target mapping for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(IPCTRACE_VMLINUX_DIR ${PROJECT_SOURCE_DIR}/vmlinux/${IPCTRACE_VMLINUX_ARCH})
if(NOT EXISTS ${IPCTRACE_VMLINUX_DIR}/vmlinux.h)
  message(FATAL_ERROR "ipctrace: ${IPCTRACE_VMLINUX_DIR}/vmlinux.h is missing (see vmlinux/README.md)")
endif()

function(ipctrace_bpf_skeleton target)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPENDS" ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_SOURCES)
    message(FATAL_ERROR "ipctrace_bpf_skeleton(${target}): NAME and SOURCES are required")
  endif()

  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/${target})
  file(MAKE_DIRECTORY ${outdir})
  set(werror)
  if(IPCTRACE_WERROR)
    set(werror -Werror)
  endif()

  set(objects)
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(abs ${src} ABSOLUTE)
    get_filename_component(stem ${src} NAME)
    string(REGEX REPLACE "\\.bpf\\.c$" "" stem ${stem})
    set(obj ${outdir}/${stem}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -target bpf -mcpu=v3 -D__TARGET_ARCH_${IPCTRACE_BPF_ARCH}
              -g -O2 -Wall ${werror}
              -I${IPCTRACE_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}/bpf
              -MD -MF ${obj}.d
              -c ${abs} -o ${obj}
      DEPENDS ${abs} ${ARG_DEPENDS}
      DEPFILE ${obj}.d
      COMMENT "BPF ${stem}.bpf.c"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()

  set(linked ${outdir}/${ARG_NAME}.bpf.o)
  set(skel ${outdir}/${ARG_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    DEPENDS ${objects}
    COMMENT "BPF link ${ARG_NAME}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND sh -c "${BPFTOOL} gen skeleton ${linked} name ${ARG_NAME} > ${skel}.tmp && mv ${skel}.tmp ${skel}"
    DEPENDS ${linked}
    COMMENT "BPF skeleton ${ARG_NAME}.skel.h"
    VERBATIM)

  add_custom_target(${target}_generate DEPENDS ${skel})
  add_library(${target} INTERFACE)
  target_include_directories(${target} SYSTEM INTERFACE ${outdir})
  add_dependencies(${target} ${target}_generate)
endfunction()
