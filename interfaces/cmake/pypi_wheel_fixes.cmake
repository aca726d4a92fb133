# Passed with -DCMAKE_PROJECT_INCLUDE=<this file> when building against the ROS 2 PyPI wheels.
#
# The wheels' exported *__rosidl_generator_pyExport.cmake files name the include directories of the
# machine that built them (e.g. /opt/python/cp311-cp311/include/python3.11). CMake refuses an imported
# target whose INTERFACE_INCLUDE_DIRECTORIES names a missing directory, so at the end of the
# directory (after every find_package) drop the entries that do not exist here. A real ROS install
# has no such entries, so the pass changes nothing there.
cmake_minimum_required(VERSION 3.19)  # cmake_language(DEFER)

function(_ros_detect_drop_missing_include_dirs)
  get_property(targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs)
      continue()
    endif()
    set(kept "")
    foreach(dir IN LISTS dirs)
      # Generator expressions are evaluated later: keep them as they are.
      if(dir MATCHES "\\$<" OR EXISTS "${dir}")
        list(APPEND kept "${dir}")
      else()
        message(STATUS "ros_detect: ${target}: dropping missing include directory ${dir}")
      endif()
    endforeach()
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${kept}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _ros_detect_drop_missing_include_dirs)
