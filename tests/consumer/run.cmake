# Install ptio from a build tree into a scratch prefix, then configure, build and run the
# consumer project against it. Run by ctest (test consumer.find_package) as
#   cmake -DPTIO_SOURCE=<src> -DPTIO_BUILD=<build> -DWORK=<scratch> -DGENERATOR=<gen> -P run.cmake
# Any failing step is a FATAL_ERROR, which makes the test fail.
cmake_minimum_required(VERSION 3.25)

foreach(var PTIO_SOURCE PTIO_BUILD WORK GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: pass -D${var}=...")
  endif()
endforeach()

set(prefix ${WORK}/prefix)
set(build ${WORK}/build)
file(REMOVE_RECURSE ${prefix} ${build})

# Build the consumer with the compiler and flags ptio was built with (a sanitizer build of
# ptio needs the sanitizer flags at link time too).
set(forwarded)
foreach(var CMAKE_CXX_COMPILER CMAKE_BUILD_TYPE CMAKE_CXX_FLAGS CMAKE_EXE_LINKER_FLAGS)
  file(STRINGS ${PTIO_BUILD}/CMakeCache.txt line REGEX "^${var}:[A-Z]+=")
  if(line)
    string(REGEX REPLACE "^${var}:[A-Z]+=" "" val "${line}")
    if(NOT val STREQUAL "")
      list(APPEND forwarded "-D${var}=${val}")
    endif()
  endif()
endforeach()

function(step what)
  message(STATUS "consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "consumer: ${what} failed (${rc}): ${cmd}")
  endif()
endfunction()

step("install ptio into ${prefix}"
  ${CMAKE_COMMAND} --install ${PTIO_BUILD} --prefix ${prefix})
step("configure ${build}"
  ${CMAKE_COMMAND} -S ${PTIO_SOURCE}/tests/consumer -B ${build} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} ${forwarded})
step("build" ${CMAKE_COMMAND} --build ${build})

set(exe ${build}/ptio_consumer)
if(NOT EXISTS ${exe})
  # A multi-config generator puts it under <config>/.
  file(GLOB_RECURSE found ${build}/ptio_consumer ${build}/ptio_consumer.exe)
  if(NOT found)
    message(FATAL_ERROR "consumer: no ptio_consumer executable under ${build}")
  endif()
  list(GET found 0 exe)
endif()
step("run ${exe}" ${exe})
message(STATUS "consumer: find_package(ptio) works")
