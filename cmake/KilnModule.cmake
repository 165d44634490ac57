# kiln_module(NAME [DEPS target...] [CUDA_SOURCES_DIR dir])
#
# One static library per layer of docs/architecture.md: kiln_NAME from every src/NAME/*.cc (and
# its subfolders). Headers are included as "NAME/file.h" from src/. Files are globbed so that a
# module's owner adds files without touching shared build files.
# KILN_UNITY_BUILD compiles each module and unit-test binary in batches of 16 files as one
# translation unit: the headers (nlohmann/json above all) are parsed and their templates
# instantiated once a batch, not once a file, which halves a cold build. The sanitizer stage of
# CI uses it (its builds are never cached); normal builds compile file by file. Files whose
# file-local names clash with a sibling's (two static helpers of one name) compile on their own:
# list them here. A clash shows up as "redefinition of" or "is ambiguous" in a
# CMakeFiles/<target>.dir/Unity/unity_N_cxx.cxx.
option(KILN_UNITY_BUILD "Compile each module and unit-test binary as a few unity translation units" OFF)
set(kiln_unity_own_files
    src/jinja/globals.cc              # kUndefined (filters.cc)
    src/jinja/methods.cc              # kNone, kUndefined (filters.cc)
    src/jinja/tests.cc                # kUndefined, canonical (filters.cc)
    src/cli/serve_command.cc          # fail (generate_command.cc)
    tests/unit/api/structured_output_fields_test.cc  # chat (bad_request_test.cc)
    tests/unit/api/tool_call_response_test.cc        # context (response_shape_test.cc)
    tests/unit/tokenizer/golden_test.cc              # kGoldenDir (chat_template_golden_test.cc)
    tests/unit/tokenizer/npm_tokenizer_build_test.cc) # read_json (golden_test.cc)

function(kiln_unity_build target sources)
  if(NOT KILN_UNITY_BUILD)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
  foreach(own ${kiln_unity_own_files})
    if("${PROJECT_SOURCE_DIR}/${own}" IN_LIST sources)
      set_source_files_properties(${PROJECT_SOURCE_DIR}/${own} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endforeach()
endfunction()

function(kiln_module name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}
       ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  # CUDA sources (cuda/ subfolders) build only with the CUDA backend.
  list(FILTER sources EXCLUDE REGEX "(^|/)cuda/")
  list(TRANSFORM sources PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/)
  if(KILN_CUDA)
    file(GLOB_RECURSE cuda_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cu
         ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cc)
    list(APPEND sources ${cuda_sources})
  endif()
  if(sources)
    add_library(kiln_${name} STATIC ${sources})
    target_include_directories(kiln_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(kiln_${name} PUBLIC ${ARG_DEPS} PRIVATE kiln_warnings)
    kiln_unity_build(kiln_${name} "${sources}")
  else()
    add_library(kiln_${name} INTERFACE)
    target_include_directories(kiln_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(kiln_${name} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# kiln_unit_tests(MODULE [NAME target] [DEPS target...]): one test binary per folder of tests/unit,
# from its *_test.cc files, linked with the module it tests; each GoogleTest case is its own CTest
# test. NAME (default MODULE_tests) lets two folders test one module with their own binaries.
function(kiln_unit_tests module)
  cmake_parse_arguments(ARG "" "NAME" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(KILN_CUDA)
    file(GLOB cuda_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cu)
    list(APPEND sources ${cuda_tests})
  endif()
  if(NOT sources)
    return()
  endif()
  set(target ${module}_tests)
  if(ARG_NAME)
    set(target ${ARG_NAME})
  endif()
  add_executable(${target} ${sources})
  kiln_unity_build(${target} "${sources}")
  target_link_libraries(${target} PRIVATE kiln_${module} ${ARG_DEPS} GTest::gtest GTest::gmock
                        GTest::gtest_main kiln_warnings)
  target_compile_definitions(${target} PRIVATE
    KILN_SOURCE_DIR="${PROJECT_SOURCE_DIR}" KILN_BINARY_DIR="${PROJECT_BINARY_DIR}")
  include(GoogleTest)
  gtest_discover_tests(${target} DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
                       PROPERTIES LABELS "unit;${module}")
endfunction()
