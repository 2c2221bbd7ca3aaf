// The loops of attention over the F16 KV cache, and F16 conversion, one
// table per ISA, picked like the matmul kernels. Each call covers a whole
// (query heads x cache positions) block, so no call is made per position.
//
// All functions are pure and thread-safe. F16 values are IEEE binary16
// bits; conversions to F16 round to nearest even, exactly as Fp32ToFp16.
#ifndef AISCORE_AGENT_CPU_VEC_KERNELS_H_
#define AISCORE_AGENT_CPU_VEC_KERNELS_H_

#include <cstdint>

#include "agent/cpu/cpu_features.h"

namespace aiscore {

struct VecKernels {
  Isa isa;
  // Decode attention runs one token's query heads over the cache a block of
  // n <= kAttentionDecodeBlock positions at a time, every KV head at once,
  // so that the cache is read as one stream: row p of k (and v) holds all
  // KV heads, head g at g * hd, rows kv_stride halves apart. Query head h
  // (of kv_heads * group, at q + h * hd) uses KV head h / group.
  //
  // Each call reads its block from cache while the other's arrives: the
  // scores prefetch the block's values, and the values the next block's
  // keys, so memory stays busy through both.
  //
  // scores[h * kAttentionDecodeBlock + p] = scale * q_h . k_p for p < n,
  // and block_max[h] = their max; v: the block's value rows, prefetched.
  void (*attention_decode_scores)(const float* q, int64_t kv_heads, int64_t group, int64_t hd,
                                  const uint16_t* k, const uint16_t* v, int64_t kv_stride,
                                  int64_t n, float scale, float* scores, float* block_max);
  // out[h * hd + e] = rescale[h] * out[h * hd + e] +
  //     sum_{p < n} weights[h * kAttentionDecodeBlock + p] * v_p[(h / group) * hd + e]
  // for every query head h and e < hd. With rescale null, out is
  // overwritten (its old contents are not read). k_next: n_next key rows,
  // prefetched (any address: prefetches do not fault).
  void (*attention_decode_values)(const float* weights, const float* rescale, int64_t kv_heads,
                                  int64_t group, int64_t hd, const uint16_t* v, int64_t kv_stride,
                                  int64_t n, const uint16_t* k_next, int64_t n_next, float* out);
  // out[e] = sum_{c < count} w[c] * rows[c * stride + e] for e < n (out is
  // overwritten): the merge of decode attention's partial results.
  void (*weighted_sum)(const float* rows, int64_t stride, const float* w, int64_t count, int64_t n,
                       float* out);
  // Optional (null where the ISA has none): causal attention for prefill,
  // flash-style, so that each key and value row is converted once per pass
  // and reused by many query rows. Query rows are the `group` query heads
  // that share one KV head, of tokens t < n: head h of token t at
  // q + t * q_stride + h * hd, out likewise. Token t sees cache positions
  // 0 .. first_pos + t (rows of k and v, kv_stride halves apart). Wants
  // hd % 32 == 0, n * group <= kAttentionPrefillRows, and
  // AttentionPrefillScratch(hd) floats of scratch.
  void (*attention_prefill)(const float* q, int64_t q_stride, int64_t n, int64_t group, int64_t hd,
                            const uint16_t* k, const uint16_t* v, int64_t kv_stride,
                            int64_t first_pos, float scale, float* out, float* scratch);
  // y[i] = f16(x[i]).
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);
  // x[i] = exp(x[i] - shift); returns the sum of the new x[i]. Within 4e-7
  // relative of the exact exponential; arguments below -87.3 give about 1e-38
  // instead of less.
  float (*exp_sum)(float* x, int64_t n, float shift);
  // out[i] = gate[i] / (1 + exp(-gate[i])) * up[i] (SwiGLU).
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  // out[i] = x[i] * s * w[i] for i < n, s = 1 / sqrt(sum(x^2) / n + eps),
  // the sum of squares taken in double (RMSNorm of one row).
  void (*rms_norm)(const float* x, const float* w, int64_t n, float eps, float* out);
};

// Positions one attention_decode_scores / attention_decode_values call covers at most.
inline constexpr int64_t kAttentionDecodeBlock = 64;

// A partial result of decode attention over a run of cache positions, for
// every query head h < heads: out[h * hd + e] = sum_p exp(s_hp - max[h]) *
// v_p[e] (not yet divided by the sum), max[h] = max_p s_hp and sum[h] =
// sum_p exp(s_hp - max[h]), s_hp being the scaled scores. In memory: out,
// then max, then sum.
struct AttentionDecodePart {
  float* out;
  float* max;
  float* sum;
};
inline constexpr int64_t AttentionDecodePartFloats(int64_t heads, int64_t hd) {
  return heads * (hd + 2);
}
inline AttentionDecodePart AttentionDecodePartAt(float* part, int64_t heads, int64_t hd) {
  return {part, part + heads * hd, part + heads * (hd + 1)};
}

// The most query rows (tokens x heads of a group) one attention_prefill call takes.
inline constexpr int64_t kAttentionPrefillRows = 64;
// Cache positions one attention_prefill pass converts and multiplies.
inline constexpr int64_t kAttentionPrefillPositions = 64;
// Floats of scratch attention_prefill needs for heads of width hd.
inline constexpr int64_t AttentionPrefillScratch(int64_t hd) {
  // Transposed queries, output, keys and values of one pass, scores, and
  // three floats per row (running max, sum, rescale).
  return 2 * kAttentionPrefillRows * hd + 2 * kAttentionPrefillPositions * hd +
         kAttentionPrefillPositions * kAttentionPrefillRows + 3 * kAttentionPrefillRows;
}

// The working set of one attention_prefill call (in `scratch`, but for `last`), which its ISA
// versions share. Query rows r = t * group + h are padded with zero queries to `rows`, a multiple
// of the kernel's row tile; padding rows are computed and dropped.
struct AttentionPrefillBlock {
  int64_t rows;       // padded
  int64_t real_rows;  // n * group
  float* qt;          // [hd][rows]: the queries, transposed and scaled
  float* o;           // [rows][hd]: outputs before the division by row_sum
  float* kf;          // [kAttentionPrefillPositions][hd]: one pass's keys as f32
  float* vf;          // [kAttentionPrefillPositions][hd]: and values
  float* st;          // [kAttentionPrefillPositions][rows]: scores, then weights
  float* row_max;     // [rows]: running max of each row's scores
  float* row_sum;     // [rows]: running sum of its exponentials
  float* rescale;     // [rows]: exp(old max - new max) of the last pass
  alignas(64) int32_t last[kAttentionPrefillRows];  // the last cache position each row sees
};

// Score of a position a row does not see.
inline constexpr float kAttentionMasked = -1e30f;

// Lays out `scratch` (AttentionPrefillScratch(hd) floats) and fills qt,
// last, row_max (kAttentionMasked), row_sum and o (zero). Portable code, for
// every ISA's kernel.
AttentionPrefillBlock BeginAttentionPrefill(const float* q, int64_t q_stride, int64_t n,
                                            int64_t group, int64_t hd, int64_t first_pos,
                                            float scale, int64_t row_tile, float* scratch);

// Decode attention of one token's query heads (q: kv_heads * group heads
// of hd) over cache rows [0, len) of k and v, block by block with a running
// max (flash-style), left in `part` (AttentionDecodePartFloats floats) as
// AttentionDecodePart says, for AttentionMerge; during its last block it
// prefetches kAttentionDecodeBlock rows of keys at k_after (the next ones
// the thread reads). Needs AttentionDecodeScratch(kv_heads * group) floats
// of scratch. Portable code over vk's kernels.
inline constexpr int64_t AttentionDecodeScratch(int64_t heads) {
  return heads * (kAttentionDecodeBlock + 2);  // scores, block max, rescale
}
void AttentionDecodeRun(const VecKernels& vk, const float* q, int64_t kv_heads, int64_t group,
                        int64_t hd, const uint16_t* k, const uint16_t* v, int64_t kv_stride,
                        int64_t len, const uint16_t* k_after, float scale, float* scratch,
                        float* part);

// Joins `count` partial results of decode attention over consecutive runs
// of the cache, each AttentionDecodePartFloats(heads, hd) floats laid out as
// AttentionDecodePart says, into out[h * hd + e]: the softmax-weighted sum
// of values over all of them. Portable code over vk.weighted_sum.
void AttentionMerge(const VecKernels& vk, const float* parts, int64_t count, int64_t heads,
                    int64_t hd, float* out);

// The table of the highest supported ISA at or below `isa`.
const VecKernels& BestVecKernels(Isa isa);

extern const VecKernels kScalarVecKernels;
#ifdef AISCORE_HAVE_X86_KERNELS
extern const VecKernels kAvx2VecKernels;
extern const VecKernels kAvx512VecKernels;  // attention its own; the rest AVX2's
#endif

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_VEC_KERNELS_H_
