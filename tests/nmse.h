// Normalized mean squared error, the yardstick every numerical test uses:
// sum (ref - got)^2 / sum ref^2, accumulated in FP64.
#ifndef AISCORE_TESTS_NMSE_H_
#define AISCORE_TESTS_NMSE_H_

#include <cstddef>
#include <vector>

namespace aiscore {

template <typename Ref>
double Nmse(const std::vector<Ref>& ref, const std::vector<float>& got) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = static_cast<double>(ref[i]);
    err += (r - got[i]) * (r - got[i]);
    norm += r * r;
  }
  return err / norm;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_NMSE_H_
