// The device's copy bandwidth, measured as the roofline's denominator in the same run as a
// benchmark (bytes read plus bytes written by a device-to-device copy, median of 10).
#pragma once

#include <cstddef>

#include "base/status.h"

namespace kiln::cuda {

Result<double> measure_copy_bandwidth_gbps(size_t buffer_bytes = size_t{1} << 30);

}  // namespace kiln::cuda
