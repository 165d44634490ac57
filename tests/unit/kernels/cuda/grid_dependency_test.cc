// Programmatic dependent launch as an option (CudaModelOptions::programmatic_dependent_launch,
// KILN_CUDA_PDL=0 in the CLI): the switch decides whether launches carry the attribute, and a
// chain of dependent kernels computes the same bits either way.
#include <gtest/gtest.h>

#include <random>

#include "cuda_test_util.h"
#include "kernels/cuda/grid_dependency.h"
#include "kernels/cuda/ops_cuda.h"

namespace kiln::cuda {
namespace {

using testing::download_bf16;
using testing::poisoned_bf16;
using testing::random_bf16;
using testing::upload;

// Two dependent RMSNorms (the second reads the first's output), as a decode step chains them.
std::vector<float> chained_norms(CudaContext& context, const std::vector<uint16_t>& x,
                                    const std::vector<uint16_t>& weight, int rows, int hidden) {
  DeviceBuffer x_dev = upload(x), weight_dev = upload(weight);
  DeviceBuffer mid = poisoned_bf16(x.size()), out = poisoned_bf16(x.size());
  rms_norm(x_dev.as<bf16>(), weight_dev.as<bf16>(), rows, hidden, 1e-5f, mid.as<bf16>(), context.stream());
  rms_norm(mid.as<bf16>(), weight_dev.as<bf16>(), rows, hidden, 1e-5f, out.as<bf16>(), context.stream());
  context.synchronize();
  return download_bf16(out, x.size());
}

TEST(GridDependency, TheOptionSwitchesLaunchesAndResultsAgree) {
  KILN_SKIP_WITHOUT_GPU();
  auto context = CudaContext::create(0);
  ASSERT_TRUE(context.ok()) << context.message();
  const bool hopper = (*context)->info().compute_capability >= 90;
  std::mt19937 rng(7);
  const int rows = 3, hidden = 4096;
  const auto x = random_bf16(static_cast<size_t>(rows) * hidden, rng, 3.0f);
  const auto weight = random_bf16(hidden, rng, 2.0f);

  allow_grid_dependency_launches(true);
  EXPECT_EQ(grid_dependency_launches(), hopper);
  const auto with_pdl = chained_norms(**context, x, weight, rows, hidden);
  allow_grid_dependency_launches(false);
  EXPECT_FALSE(grid_dependency_launches());
  const auto without_pdl = chained_norms(**context, x, weight, rows, hidden);
  allow_grid_dependency_launches(true);  // the default, for the tests after this one
  EXPECT_EQ(with_pdl, without_pdl);
}

}  // namespace
}  // namespace kiln::cuda
