# Decides whether the CUDA backend is built. AUTO builds it when nvcc is found (it is at
# /usr/local/cuda on the development machines, CI and the GPU machine).
if(KILN_CUDA STREQUAL "AUTO")
  find_program(KILN_NVCC nvcc HINTS /usr/local/cuda/bin)
  if(KILN_NVCC)
    set(KILN_CUDA ON)
  else()
    set(KILN_CUDA OFF)
  endif()
endif()
if(KILN_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  # Releases build for Ampere (A100, A10G), Ada (L4, L40S) and Hopper; quick device runs pass
  # -DCMAKE_CUDA_ARCHITECTURES=90 to compile once.
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80;86;89;90")
  endif()
  enable_language(CUDA)
  # CMake 3.25 does not know nvcc's C++20 dialect flag; tell it, so CUDA sources get C++20
  # like the rest of the project.
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "kiln: CUDA backend ON (architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "kiln: CUDA backend OFF")
endif()
