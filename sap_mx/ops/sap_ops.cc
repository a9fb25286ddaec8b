// sap_mx native operators, loaded into MXNet through its external-operator library interface
// (include/mxnet/lib_api.h, shipped in the mxnet 1.9.1 wheel).
//
// Operator `sapmx_sap` (inputs: data; outputs: out[, mask]; attributes: frac, independent, relu,
// with_mask)
//   Stochastic Activation Pruning, Algorithm 1 of Dhillon et al. (ICLR 2018), applied per example
//   (row = everything but the first axis, a = number of entries in a row):
//     p_j = |h_j| / sum_k |h_k|,  r = max(1, int(frac * a)) draws with replacement from p,
//     mask_j = 1 / (1 - (1 - p_j)^r) if j was drawn at least once, else 0,
//     out = h * mask.
//   Backward: grad_in = grad_out * mask (the mask is a constant).
//   with_mask=1 (default) also returns the mask. with_mask=0 returns out only (one memory pass
//   fewer, what the SAP blocks use); its backward pass recomputes the mask from data and out:
//   entry j was kept iff out_j != 0 (a kept entry is h_j != 0 times a factor >= 1), and its
//   factor is recomputed by the same kernel from the same row, so the values are bit-identical.
//   With relu=1 the operator computes SAP(max(data, 0)): the same values and gradients as a
//   ReLU followed by SAP (mask is 0 wherever data <= 0), without materialising the ReLU output.
//   An all-zero row gives zeros; a row holding NaN/Inf gives NaN (never a silent zero).
//   With independent=1 the keeps are independent Bernoulli(1 - (1 - p_j)^r) instead (same
//   marginals, different joint law: the re-implementation of Athalye et al. 2018); never the
//   default.
//
// How the exact law is sampled fast (Poissonization, then an exact correction to r draws):
//   1. every entry gets an independent count c_j ~ Poisson(r p_j). Poisson-process splitting
//      makes N = sum c_j ~ Poisson(r) and, given N, (c_j) ~ Multinomial(N, p);
//   2. if N > r, N - r of the N draws are removed, chosen uniformly without replacement (by
//      exchangeability the remaining r draws are i.i.d. categorical(p)); if N < r, r - N fresh
//      categorical draws are added (search on double-precision block sums of the weights).
//      Either way (c_j) ~ Multinomial(r, p) exactly, and entry j is kept iff c_j > 0.
//   Each row is first compacted to its non-zero entries (zeros have p = 0: never drawn, never
//   kept). A count is the inversion of a uniform against the Poisson CDF (exp(-mu), then
//   P_k = P_{k-1} mu / k), exact in double precision. With AVX2 eight entries go at a time in
//   float (F_k = F_{k-1} + exp(-mu) mu^k / k!), for 8 terms (8 more, up to 24, while a lane is
//   still counting); any lane within 1e-5 of a CDF tie (probability ~1e-4), still counting
//   after 24 terms, or with a mean >= 30 is redone exactly in double (means >= 30 by libstdc++'s
//   exact Poisson sampler), so the counts are those of the double inversion (checked on 21M
//   lanes with means in [0, 32) when this was written: no difference). exp(-mu) is a degree-7
//   polynomial after range reduction (< 4 ulp). The scale factors reuse it: for p < 1/64,
//   (1 - p)^r = exp(-mu) exp(-d) with d = r (-log1p(-p) - p) small, and (1 - p)^r - 1 is
//   expm1(r log1p(-p)) by its Taylor polynomial where r log1p(-p) > -0.5 (within 6.2 ulp of the
//   double formula over p in [1e-9, 1/64), r in [1, 1e9] when this was written); glibc libmvec's
//   log1pf/expm1f for larger p; scalar double without AVX2. The counts and the scale factors
//   are computed in one pass. Work per row is O(a + sqrt(r) log a),
//   streaming, no random memory access.
//
// Randomness: one 64-bit base seed per call is taken from MXNet's CPU random state (so
// mx.random.seed reproduces every draw); row i uses streams seeded from splitmix64(base, i), so
// the result does not depend on the number of OpenMP threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <omp.h>

#include "mxnet/lib_api.h"

#if defined(__x86_64__) && defined(SAPMX_USE_MVEC)
#include <immintrin.h>
extern "C" __m256 _ZGVdN8v_expm1f(__m256);
extern "C" __m256 _ZGVdN8v_log1pf(__m256);
#define SAPMX_AVX2 1
#endif

using namespace mxnet::ext;

namespace {

// ---------------------------------------------------------------------------------------------
// random numbers
// ---------------------------------------------------------------------------------------------
inline uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Xoshiro256 {
  uint64_t s[4];
  explicit Xoshiro256(uint64_t seed) {
    for (auto& v : s) v = splitmix64(&seed);
  }
  static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  inline uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  // uniform double in [0, 1)
  inline double uniform() { return (next() >> 11) * 0x1.0p-53; }
  // UniformRandomBitGenerator, for libstdc++'s distributions
  using result_type = uint64_t;
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return UINT64_MAX; }
  inline uint64_t operator()() { return next(); }
};

inline uint64_t row_seed(uint64_t base, int64_t row) {
  uint64_t x = base ^ (0xd1b54a32d192ed03ULL * static_cast<uint64_t>(row + 1));
  return splitmix64(&x);
}

// ---------------------------------------------------------------------------------------------
// scalar building blocks
// ---------------------------------------------------------------------------------------------
constexpr double kTailMean = 30.0;  // Poisson means from here on use libstdc++'s sampler
constexpr double kMaxDraws = 1073741824.0;  // 2^30 draws per example: counts stay in int32

inline float weight(float h, bool relu) { return relu ? std::max(h, 0.0f) : std::fabs(h); }

// Poisson(mu) by inversion of the uniform u. A u beyond the numerically attainable CDF
// (probability ~1e-16) is redrawn, which keeps the law exact.
int32_t poisson_inversion(double mu, double u, Xoshiro256* rng) {
  const double e = std::exp(-mu);
  for (;;) {
    double P = e, F = e;
    int32_t k = 0;
    while (u >= F && P > 0) {
      ++k;
      P *= mu / static_cast<double>(k);
      F += P;
    }
    if (u < F) return k;
    u = rng->uniform();
  }
}

inline int32_t poisson(double mu, double u, Xoshiro256* rng) {
  if (mu == 0.0) return 0;
  if (mu < kTailMean) return poisson_inversion(mu, u, rng);
  std::poisson_distribution<int32_t> d(mu);
  return d(*rng);
}

// 1 / (1 - (1 - p)^r) in double
inline double scale_of(double p, double r) { return -1.0 / std::expm1(r * std::log1p(-p)); }

// ---------------------------------------------------------------------------------------------
// row kernels: scalar versions, then AVX2 versions of the same arithmetic
// ---------------------------------------------------------------------------------------------
// c[k] ~ Poisson(w[k] * rate) independently over the compacted weights; returns sum c
int64_t counts_scalar(const float* w, int64_t n, double rate, int32_t* c, Xoshiro256* rng) {
  int64_t total = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double u = rng->uniform();
    c[k] = poisson(w[k] * rate, u, rng);
    total += c[k];
  }
  return total;
}

// s[k] = 1 / (1 - (1 - p_k)^r), p_k = w[k] / total, over the compacted weights
void scales_scalar(const float* w, int64_t n, double inv_total, double r, float* s) {
  for (int64_t k = 0; k < n; ++k) s[k] = static_cast<float>(scale_of(w[k] * inv_total, r));
}

// scales_scalar with the signature of the kernel table (the Poisson rate is not needed)
void scales_rate_scalar(const float* w, int64_t n, double, double inv_total, double r, float* s) {
  scales_scalar(w, n, inv_total, r, s);
}

// counts and scale factors of the compacted weights (the scalar counterpart of
// counts_scales_avx2); returns sum c
int64_t counts_scales_scalar(const float* w, int64_t n, double rate, double inv_total, double r,
                             int32_t* c, float* s, Xoshiro256* rng) {
  scales_scalar(w, n, inv_total, r, s);
  return counts_scalar(w, n, rate, c, rng);
}

// Compact the non-zero weights of a row into w[0..n) (row order); returns n and sets *total to
// the sum of the weights (double; four partial sums break the add chain).
int64_t compact_scalar(const float* h, int64_t a, bool relu, float* w, double* total) {
  int64_t n = 0, j = 0;
  double part[4] = {0.0, 0.0, 0.0, 0.0};
  for (; j + 4 <= a; j += 4) {
    for (int l = 0; l < 4; ++l) {
      const float v = weight(h[j + l], relu);
      w[n] = v;
      part[l] += v;
      n += (v != 0.0f);
    }
  }
  for (; j < a; ++j) {
    const float v = weight(h[j], relu);
    w[n] = v;
    part[0] += v;
    n += (v != 0.0f);
  }
  *total = (part[0] + part[1]) + (part[2] + part[3]);
  return n;
}

// The inverse: the k-th non-zero entry (same test as compact) gets mask = scale[k] if it was
// hit (c[k] > 0), every other entry 0; out = input * mask. mask may be null (not written).
void expand_scalar(const float* h, int64_t a, bool relu, const int32_t* c, const float* scale,
                   float* out, float* mask) {
  int64_t k = 0;
  for (int64_t j = 0; j < a; ++j) {
    const float x = relu ? std::max(h[j], 0.0f) : h[j];
    const bool nz = weight(h[j], relu) != 0.0f;
    const float v = nz && c[k] > 0 ? scale[k] : 0.0f;
    k += nz;
    if (mask != nullptr) mask[j] = v;
    out[j] = x * v;
  }
}

// The backward pass without a stored mask: the k-th non-zero entry was kept iff out[j] != 0,
// and then its mask is scale[k]; grad_in = grad * mask.
void grad_scalar(const float* h, int64_t a, bool relu, const float* out, const float* scale,
                 const float* grad, float* grad_in) {
  int64_t k = 0;
  for (int64_t j = 0; j < a; ++j) {
    const bool nz = weight(h[j], relu) != 0.0f;
    const float v = nz && out[j] != 0.0f ? scale[k] : 0.0f;
    k += nz;
    grad_in[j] = grad[j] * v;
  }
}

#ifdef SAPMX_AVX2
#define SAPMX_TARGET __attribute__((target("avx2,fma")))

// Four xoshiro256+ streams in the lanes of AVX2 registers (the '+' variant needs no 64-bit
// multiply; the doubles use its top 52 bits).
struct Xoshiro256x4 {
  __m256i s0, s1, s2, s3;
  SAPMX_TARGET explicit Xoshiro256x4(Xoshiro256* seeder) {
    alignas(32) uint64_t v[4][4];
    for (auto& lane : v) for (auto& x : lane) x = seeder->next();
    s0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(v[0]));
    s1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(v[1]));
    s2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(v[2]));
    s3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(v[3]));
  }
  // four random 64-bit words
  SAPMX_TARGET inline __m256i next() {
    const __m256i result = _mm256_add_epi64(s0, s3);
    const __m256i t = _mm256_slli_epi64(s1, 17);
    s2 = _mm256_xor_si256(s2, s0);
    s3 = _mm256_xor_si256(s3, s1);
    s1 = _mm256_xor_si256(s1, s2);
    s0 = _mm256_xor_si256(s0, s3);
    s2 = _mm256_xor_si256(s2, t);
    s3 = _mm256_or_si256(_mm256_slli_epi64(s3, 45), _mm256_srli_epi64(s3, 19));
    return result;
  }
};

// the uniform in [0, 1) that a random 64-bit word stands for (its top 53 bits)
inline double word_uniform(uint64_t word) { return (word >> 11) * 0x1.0p-53; }

constexpr int kTerms = 8;         // CDF terms evaluated branch-free per entry
constexpr int kTermsMax = 24;     // most terms an 8-lane group evaluates (8 more while a lane counts)
// bound on |float CDF - exact CDF| + |float u - u| (a rough worst-case estimate of the float
// arithmetic's error up to 24 terms is ~5e-6; ~5e-7 in typical groups)
constexpr float kFloatSlack = 1e-5f;

// exp(x) for x <= 0 (x below -87 is taken as -87): Cody-Waite reduction x = k ln2 + f,
// |f| <= ln2/2, then the Taylor polynomial of degree 7 (truncation < 8e-9 relative) in Estrin's
// scheme, times 2^k. Error < 4 ulp.
SAPMX_TARGET inline __m256 exp_neg8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  f = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), f);
  const __m256 f2 = _mm256_mul_ps(f, f), f4 = _mm256_mul_ps(f2, f2);
  const __m256 a01 = _mm256_add_ps(_mm256_set1_ps(1.0f), f);
  const __m256 a23 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 6), f, _mm256_set1_ps(0.5f));
  const __m256 a45 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 120), f, _mm256_set1_ps(1.0f / 24));
  const __m256 a67 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 5040), f, _mm256_set1_ps(1.0f / 720));
  const __m256 lo = _mm256_fmadd_ps(a23, f2, a01), hi = _mm256_fmadd_ps(a67, f2, a45);
  const __m256 p = _mm256_fmadd_ps(hi, f4, lo);
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// The scale factors 1 / (1 - (1 - p)^r) of eight entries with p < 1/64, from p, mu = r p (the
// entries' Poisson means) and e = exp(-mu), which the counts need anyway. log1p(-p) =
// -p (1 + p q), q = 1/2 + p/3 + p^2/4 (truncation < 2e-8 relative), so m = r log1p(-p) =
// -(mu + d) with d = mu p q >= 0, and (1 - p)^r = e exp(-d). expm1(m) is its Taylor polynomial of
// degree 8 for m > -0.5 (truncation < 2e-8 relative), else e exp(-d) - 1 (no cancellation), with
// exp(-d) by its Taylor polynomial of degree 5: d < mu / 123, so d < 0.14 wherever e exp(-d) is
// not negligible next to 1 (mu < 17; truncation < 1e-8). d is capped at 1 (reached only for
// mu > 120, where e exp(-d), capped or not, is far below float resolution next to 1).
SAPMX_TARGET inline __m256 scale_small_p8(__m256 p, __m256 mu, __m256 e) {
  const __m256 q = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_set1_ps(0.25f), p, _mm256_set1_ps(1.0f / 3)), p, _mm256_set1_ps(0.5f));
  const __m256 d = _mm256_min_ps(_mm256_mul_ps(mu, _mm256_mul_ps(p, q)), _mm256_set1_ps(1.0f));
  const __m256 m = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_add_ps(mu, d));
  const __m256 m2 = _mm256_mul_ps(m, m), m4 = _mm256_mul_ps(m2, m2);
  const __m256 b01 = _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m, _mm256_set1_ps(1.0f));
  const __m256 b23 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24), m, _mm256_set1_ps(1.0f / 6));
  const __m256 b45 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 720), m, _mm256_set1_ps(1.0f / 120));
  const __m256 b67 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 40320), m, _mm256_set1_ps(1.0f / 5040));
  const __m256 lo = _mm256_fmadd_ps(b23, m2, b01), hi = _mm256_fmadd_ps(b67, m2, b45);
  const __m256 small = _mm256_mul_ps(_mm256_fmadd_ps(hi, m4, lo), m);  // garbage where m <= -0.5
  const __m256 d2 = _mm256_mul_ps(d, d);
  const __m256 c01 = _mm256_sub_ps(_mm256_set1_ps(1.0f), d);
  const __m256 c23 = _mm256_fnmadd_ps(_mm256_set1_ps(1.0f / 6), d, _mm256_set1_ps(0.5f));
  const __m256 c45 = _mm256_fnmadd_ps(_mm256_set1_ps(1.0f / 120), d, _mm256_set1_ps(1.0f / 24));
  const __m256 ed = _mm256_fmadd_ps(_mm256_fmadd_ps(c45, d2, c23), d2, c01);
  const __m256 big = _mm256_fmsub_ps(e, ed, _mm256_set1_ps(1.0f));
  const __m256 em1 =
      _mm256_blendv_ps(big, small, _mm256_cmp_ps(m, _mm256_set1_ps(-0.5f), _CMP_GT_OQ));
  return _mm256_div_ps(_mm256_set1_ps(-1.0f), em1);
}

// Per-row constants of the AVX2 kernels: the Poisson rate r / total and 1 / total, in float
// (p = min(w / total, 1) takes two roundings; with the double formula within 6.2 ulp in all).
// A row whose rate or 1 / total is not a normal float goes to the scalar kernels (float_row).
struct RowConsts8 {
  __m256 rate, inv_total, r;
  SAPMX_TARGET RowConsts8(double rate_, double inv_total_, double r_)
      : rate(_mm256_set1_ps(static_cast<float>(rate_))),
        inv_total(_mm256_set1_ps(static_cast<float>(inv_total_))),
        r(_mm256_set1_ps(static_cast<float>(r_))) {}
};

// whether the AVX2 kernels' float constants represent the row (rows whose weights sum to more
// than ~8e37 or less than ~3e-39 r do not; they take the scalar kernels)
inline bool float_row(double rate, double inv_total) {
  const float fr = static_cast<float>(rate), fi = static_cast<float>(inv_total);
  return std::isnormal(fr) && std::isnormal(fi);
}

// The scale factors of the eight compacted weights w[0..8) into s[0..8), given their means mu
// and e = exp(-mu) (one lane with p >= 1/64 sends all eight to libmvec). The forward pass and
// the mask-recomputing backward pass both go through here with the same inputs, so their factors
// are bit-identical (the library is built with -ffp-contract=off, so no copy of this code gets
// multiply-adds fused differently).
SAPMX_TARGET inline void scale8(const float* w, __m256 wv, __m256 mu, __m256 e, const RowConsts8& k,
                                double inv_total, double r, float* s) {
  const __m256 p = _mm256_min_ps(_mm256_mul_ps(wv, k.inv_total), _mm256_set1_ps(1.0f));
  __m256 sc;
  if (_mm256_movemask_ps(_mm256_cmp_ps(p, _mm256_set1_ps(1.0f / 64), _CMP_GE_OQ)) == 0) {
    sc = scale_small_p8(p, mu, e);
  } else {
    sc = _mm256_div_ps(_mm256_set1_ps(-1.0f),
                       _ZGVdN8v_expm1f(_mm256_mul_ps(k.r, _ZGVdN8v_log1pf(_mm256_sub_ps(_mm256_setzero_ps(), p)))));
  }
  _mm256_storeu_ps(s, sc);
  // a scale beyond float range (a mean mu so small that 1 / mu is not a float): redo the eight
  // in double
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 bad = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), sc), inf, _CMP_EQ_OQ);
  if (_mm256_movemask_ps(bad) != 0) scales_scalar(w, 8, inv_total, r, s);
}

SAPMX_TARGET void scales_avx2(const float* w, int64_t n, double rate, double inv_total, double r,
                              float* s) {
  if (!float_row(rate, inv_total)) return scales_scalar(w, n, inv_total, r, s);
  const RowConsts8 kc(rate, inv_total, r);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 wv = _mm256_loadu_ps(w + k), mu = _mm256_mul_ps(wv, kc.rate);
    scale8(w + k, wv, mu, exp_neg8(_mm256_sub_ps(_mm256_setzero_ps(), mu)), kc, inv_total, r, s + k);
  }
  scales_scalar(w + k, n - k, inv_total, r, s + k);
}

// 1 / k! in float, k = 0..kTermsMax
struct InvFactorials {
  float v[kTermsMax + 1];
  InvFactorials() {
    double f = 1.0;
    for (int k = 0; k <= kTermsMax; ++k) { if (k > 0) f /= k; v[k] = static_cast<float>(f); }
  }
};
const InvFactorials kInvFact;

// Eight compacted entries at a time: their scale factors (scale8) and their counts, in float:
// mu = w * rate, F_0 = exp(-mu), F_i = F_{i-1} + exp(-mu) mu^i / i!, and c = #{i : u >= F_i}
// over kTerms CDF terms (8 more, twice at most, while a lane is still counting). Every uniform is
// a 64-bit word; the float comparison uses its top 23 bits. A lane is redone exactly (double
// precision, the word's top 53 bits, scalar sampler) when any comparison is within kFloatSlack of
// a tie (probability ~1e-4), when its count reaches kTermsMax, or when mu >= kTailMean; so every
// count is the one the exact double inversion gives. Returns sum c.
SAPMX_TARGET int64_t counts_scales_avx2(const float* w, int64_t n, double rate, double inv_total,
                                        double r, int32_t* c, float* s, Xoshiro256* rng) {
  if (!float_row(rate, inv_total)) return counts_scales_scalar(w, n, rate, inv_total, r, c, s, rng);
  Xoshiro256x4 vrng(rng);
  const RowConsts8 kc(rate, inv_total, r);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 tail = _mm256_set1_ps(static_cast<float>(kTailMean));
  const __m256 slack = _mm256_set1_ps(kFloatSlack);
  __m256i vtotal = _mm256_setzero_si256();
  int64_t total = 0, k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 wv = _mm256_loadu_ps(w + k);
    const __m256 mu = _mm256_mul_ps(wv, kc.rate);
    const __m256 e = exp_neg8(_mm256_sub_ps(_mm256_setzero_ps(), mu));
    scale8(w + k, wv, mu, e, kc, inv_total, r, s + k);
    const __m256i wa = vrng.next(), wb = vrng.next();
    // lane 2i <- top 32 bits of wa[i], lane 2i+1 <- top 32 bits of wb[i]
    const __m256i top = _mm256_blend_epi32(_mm256_srli_epi64(wa, 32), wb, 0xAA);
    const __m256 u = _mm256_sub_ps(
        _mm256_castsi256_ps(_mm256_or_si256(_mm256_srli_epi32(top, 9), _mm256_set1_epi32(0x3f800000))),
        one);
    // counts for u - slack and u + slack: equal unless some F_i lies within slack of u
    const __m256 u_lo = _mm256_sub_ps(u, slack), u_hi = _mm256_add_ps(u, slack);
    __m256 G = e, F = e;  // G = exp(-mu) mu^i
    __m256i c_lo = _mm256_setzero_si256(), c_hi = _mm256_setzero_si256();
    int terms = 0;
    do {
      for (int i = terms; i < terms + kTerms; ++i) {  // a true comparison is all ones (-1)
        c_lo = _mm256_sub_epi32(c_lo, _mm256_castps_si256(_mm256_cmp_ps(u_lo, F, _CMP_GE_OQ)));
        c_hi = _mm256_sub_epi32(c_hi, _mm256_castps_si256(_mm256_cmp_ps(u_hi, F, _CMP_GE_OQ)));
        G = _mm256_mul_ps(G, mu);
        F = _mm256_fmadd_ps(G, _mm256_set1_ps(kInvFact.v[i + 1]), F);
      }
      terms += kTerms;
    } while (terms < kTermsMax && _mm256_movemask_ps(_mm256_castsi256_ps(
                 _mm256_cmpeq_epi32(c_hi, _mm256_set1_epi32(terms)))) != 0);
    const __m256i ci = c_lo;
    const __m256i same = _mm256_cmpeq_epi32(c_lo, c_hi);
    const __m256i full = _mm256_cmpeq_epi32(c_hi, _mm256_set1_epi32(kTermsMax));
    const int redo = (~_mm256_movemask_ps(_mm256_castsi256_ps(same)) & 0xff) |
                     _mm256_movemask_ps(_mm256_castsi256_ps(full)) |
                     _mm256_movemask_ps(_mm256_cmp_ps(mu, tail, _CMP_GE_OQ));
    if (redo == 0) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + k), ci);
      vtotal = _mm256_add_epi32(vtotal, ci);
    } else {
      alignas(32) uint64_t words[2][4];
      alignas(32) int32_t cl[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(words[0]), wa);
      _mm256_store_si256(reinterpret_cast<__m256i*>(words[1]), wb);
      _mm256_store_si256(reinterpret_cast<__m256i*>(cl), ci);
      alignas(32) float mul[8];
      _mm256_store_ps(mul, mu);
      for (int l = 0; l < 8; ++l) {
        if (redo & (1 << l)) {
          // the same split as the vector test (float mean), so that every lane whose float mean
          // is below the tail gets exactly the double inversion of its uniform
          const double mu_exact = static_cast<double>(w[k + l]) * rate;
          const double u_exact = word_uniform(words[l & 1][l >> 1]);
          cl[l] = mul[l] >= static_cast<float>(kTailMean)
                      ? poisson(mu_exact, u_exact, rng)
                      : poisson_inversion(mu_exact, u_exact, rng);
        }
        c[k + l] = cl[l];
        total += cl[l];
      }
    }
  }
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), vtotal);
  for (int l = 0; l < 8; ++l) total += lanes[l];
  scales_scalar(w + k, n - k, inv_total, r, s + k);
  return total + counts_scalar(w + k, n - k, rate, c + k, rng);
}

// permutation tables for 8-lane compress/expand, indexed by the 8-bit non-zero mask
struct PermuteTables {
  alignas(32) int32_t compress[256][8];  // lane i <- source lane of the i-th set bit
  alignas(32) int32_t expand[256][8];    // lane i <- rank of bit i among the set bits
  PermuteTables() {
    for (int mask = 0; mask < 256; ++mask) {
      int n = 0;
      for (int i = 0; i < 8; ++i) {
        compress[mask][i] = 0;
        expand[mask][i] = (mask >> i) & 1 ? n : 0;
        if ((mask >> i) & 1) compress[mask][n++] = i;
      }
    }
  }
};
const PermuteTables kPermute;

// max_ps returns its second operand when either is NaN: max(0, x) keeps a NaN x, like std::max
SAPMX_TARGET inline __m256 relu8(__m256 x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }

SAPMX_TARGET inline __m256 weight8(__m256 x, bool relu) {
  return relu ? relu8(x) : _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

// w needs 8 slots of slack past n
SAPMX_TARGET int64_t compact_avx2(const float* h, int64_t a, bool relu, float* w, double* total) {
  const __m256 zero = _mm256_setzero_ps();
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t n = 0, j = 0;
  for (; j + 8 <= a; j += 8) {
    const __m256 wv = weight8(_mm256_loadu_ps(h + j), relu);
    const int bits = _mm256_movemask_ps(_mm256_cmp_ps(wv, zero, _CMP_NEQ_UQ));
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kPermute.compress[bits]));
    _mm256_storeu_ps(w + n, _mm256_permutevar8x32_ps(wv, perm));
    n += __builtin_popcount(bits);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(wv)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(wv, 1)));
  }
  double rest = 0.0;
  n += compact_scalar(h + j, a - j, relu, w + n, &rest);
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  *total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest;
  return n;
}

// c and scale need 8 slots of slack past the last non-zero entry; mask may be null
SAPMX_TARGET void expand_avx2(const float* h, int64_t a, bool relu, const int32_t* c,
                              const float* scale, float* out, float* mask) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t k = 0, j = 0;
  for (; j + 8 <= a; j += 8) {
    const __m256 x = _mm256_loadu_ps(h + j);
    const __m256 nz = _mm256_cmp_ps(weight8(x, relu), zero, _CMP_NEQ_UQ);
    const int bits = _mm256_movemask_ps(nz);
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kPermute.expand[bits]));
    const __m256i hit = _mm256_cmpgt_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + k)), _mm256_setzero_si256());
    const __m256 m = _mm256_and_ps(_mm256_castsi256_ps(hit), _mm256_loadu_ps(scale + k));
    const __m256 v = _mm256_and_ps(nz, _mm256_permutevar8x32_ps(m, perm));
    if (mask != nullptr) _mm256_storeu_ps(mask + j, v);
    _mm256_storeu_ps(out + j, _mm256_mul_ps(relu ? relu8(x) : x, v));
    k += __builtin_popcount(bits);
  }
  expand_scalar(h + j, a - j, relu, c + k, scale + k, out + j, mask == nullptr ? nullptr : mask + j);
}

// scale needs 8 slots of slack past the last non-zero entry
SAPMX_TARGET void grad_avx2(const float* h, int64_t a, bool relu, const float* out,
                            const float* scale, const float* grad, float* grad_in) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t k = 0, j = 0;
  for (; j + 8 <= a; j += 8) {
    const __m256 nz = _mm256_cmp_ps(weight8(_mm256_loadu_ps(h + j), relu), zero, _CMP_NEQ_UQ);
    const int bits = _mm256_movemask_ps(nz);
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kPermute.expand[bits]));
    const __m256 kept = _mm256_cmp_ps(_mm256_loadu_ps(out + j), zero, _CMP_NEQ_UQ);
    const __m256 v = _mm256_and_ps(_mm256_and_ps(nz, kept),
                                   _mm256_permutevar8x32_ps(_mm256_loadu_ps(scale + k), perm));
    _mm256_storeu_ps(grad_in + j, _mm256_mul_ps(_mm256_loadu_ps(grad + j), v));
    k += __builtin_popcount(bits);
  }
  grad_scalar(h + j, a - j, relu, out + j, scale + k, grad + j, grad_in + j);
}
#endif

struct Kernels {
  int64_t (*compact)(const float*, int64_t, bool, float*, double*);
  int64_t (*counts_scales)(const float*, int64_t, double, double, double, int32_t*, float*,
                           Xoshiro256*);
  void (*scales)(const float*, int64_t, double, double, double, float*);
  void (*expand)(const float*, int64_t, bool, const int32_t*, const float*, float*, float*);
  void (*grad)(const float*, int64_t, bool, const float*, const float*, const float*, float*);
};

// SAP_MX_KERNELS=scalar forces the scalar kernels (what CPUs without AVX2 run; tests use it)
Kernels pick_kernels() {
  const Kernels scalar = {compact_scalar, counts_scales_scalar, scales_rate_scalar, expand_scalar,
                          grad_scalar};
  const char* forced = std::getenv("SAP_MX_KERNELS");
  if (forced != nullptr && std::string(forced) == "scalar") return scalar;
#ifdef SAPMX_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {compact_avx2, counts_scales_avx2, scales_avx2, expand_avx2, grad_avx2};
  }
#endif
  return scalar;
}

const Kernels kKernels = pick_kernels();

// ---------------------------------------------------------------------------------------------
// one row
// ---------------------------------------------------------------------------------------------
struct Workspace {
  std::vector<float> w;        // weights of the non-zero entries, compacted
  std::vector<int32_t> hits;   // draws that hit each compacted entry
  std::vector<float> scale;    // 1 / (1 - (1 - p)^r) of each compacted entry
  std::vector<double> cum_w;   // cumulative weight at the end of each block
  std::vector<int64_t> cum_c;  // cumulative count at the end of each block
  std::vector<int64_t> picks, owners, seen;
  int64_t capacity = -1;
  void reserve(int64_t a);
};

// Bring sum(count) from N to exactly r (see the header): remove N - r of the N draws uniformly
// without replacement, or add r - N categorical draws. Both search block sums (kBlock entries
// per block; branch-free binary searches, eight at a time) and then one block, so the work is
// one pass of block sums plus O(|N - r| (log n + kBlock)).
constexpr int64_t kBlock = 16;

void Workspace::reserve(int64_t a) {  // a + 8: slack for the 8-lane compress/expand
  if (a <= capacity) return;
  w.resize(a + 8); hits.resize(a + 8); scale.resize(a + 8);
  cum_w.resize(a / kBlock + 2); cum_c.resize(a / kBlock + 2);
  capacity = a;
}

// for eight values v[j]: the first index i in [0, len) with cum[i] > v[j] (len - 1 if there
// is none); branch-free binary searches in lock-step (eight independent dependency chains)
template <typename T>
inline void first_above8(const T* cum, int64_t len, const T* v, int64_t* at) {
  int64_t lo[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t m = len; m > 1;) {
    const int64_t half = m / 2;
    for (int j = 0; j < 8; ++j) lo[j] = cum[lo[j] + half - 1] <= v[j] ? lo[j] + half : lo[j];
    m -= half;
  }
  for (int j = 0; j < 8; ++j) at[j] = std::min<int64_t>(lo[j] + (cum[lo[j]] <= v[j]), len - 1);
}

void correct_total(int64_t n, int64_t N, int64_t r, Workspace* ws, Xoshiro256* rng) {
  int32_t* c = ws->hits.data();
  const float* w = ws->w.data();
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (N < r) {
    double* cum = ws->cum_w.data();
    double acc = 0.0;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
      double part = 0.0;
#pragma omp simd reduction(+ : part)
      for (int64_t k = lo; k < hi; ++k) part += w[k];
      acc += part;
      cum[b] = acc;
    }
    for (int64_t d0 = N; d0 < r; d0 += 8) {
      const int m = static_cast<int>(std::min<int64_t>(8, r - d0));
      double v[8];
      int64_t at[8];
      for (int j = 0; j < 8; ++j) v[j] = j < m ? rng->uniform() * acc : 0.0;
      first_above8(cum, blocks, v, at);
      for (int j = 0; j < m; ++j) {
        // in the block, the entry whose cumulative weight first exceeds v (the block's last
        // entry if rounding leaves none; every compacted weight is > 0)
        const int64_t b = at[j], lo = b * kBlock, len = std::min(n, lo + kBlock) - lo;
        double x = v[j] - (b > 0 ? cum[b - 1] : 0.0);
        int64_t idx = 0;
        for (int64_t k = 0; k < len; ++k) {
          x -= w[lo + k];
          idx += x >= 0.0;
        }
        c[lo + std::min(idx, len - 1)] += 1;
      }
    }
  } else if (N > r) {
    // D distinct positions among the N draws, uniformly: draw positions, dropping repeats (an
    // open-addressing set), until D are distinct. Every position is treated alike, so the set
    // is a uniform D-subset.
    const int64_t D = N - r;
    auto& picks = ws->picks;
    auto& seen = ws->seen;
    uint64_t size = 16;
    while (size < 4 * static_cast<uint64_t>(D)) size *= 2;
    seen.assign(size, -1);
    picks.clear();
    while (static_cast<int64_t>(picks.size()) < D) {
      const int64_t q = static_cast<int64_t>(
          (static_cast<unsigned __int128>(rng->next()) * static_cast<uint64_t>(N)) >> 64);
      for (uint64_t slot = (static_cast<uint64_t>(q) * 0x9e3779b97f4a7c15ULL) >> 32;; ++slot) {
        int64_t& e = seen[slot & (size - 1)];
        if (e == q) break;
        if (e < 0) {
          e = q;
          picks.push_back(q);
          break;
        }
      }
    }
    // the draws are laid out entry after entry: position q belongs to the entry whose
    // cumulative count first exceeds q. Every owner is found before any count changes.
    int64_t* cum = ws->cum_c.data();
    int64_t acc = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
      int32_t part = 0;
      for (int64_t k = lo; k < hi; ++k) part += c[k];
      acc += part;
      cum[b] = acc;
    }
    ws->owners.clear();
    for (size_t p0 = 0; p0 < picks.size(); p0 += 8) {
      const int m = static_cast<int>(std::min<size_t>(8, picks.size() - p0));
      int64_t q[8], at[8];
      for (int j = 0; j < 8; ++j) q[j] = j < m ? picks[p0 + j] : 0;
      first_above8(cum, blocks, q, at);
      for (int j = 0; j < m; ++j) {
        const int64_t b = at[j], lo = b * kBlock, len = std::min(n, lo + kBlock) - lo;
        const int64_t inner = q[j] - (b > 0 ? cum[b - 1] : 0);
        int64_t t = 0, idx = 0;
        for (int64_t k = 0; k < len; ++k) {
          t += c[lo + k];
          idx += t <= inner;
        }
        ws->owners.push_back(lo + idx);
      }
    }
    for (int64_t o : ws->owners) c[o] -= 1;
  }
}

// mask may be null (not written)
void sap_row(const float* h, float* out, float* mask, int64_t a, int64_t r, bool independent,
             bool relu, uint64_t seed, Workspace* ws) {
  float* w = ws->w.data();
  double total = 0.0;
  const int64_t n = kKernels.compact(h, a, relu, w, &total);
  if (n == 0 || !std::isfinite(total)) {
    // an all-zero map passes through as zeros; a map holding NaN/Inf gives NaN
    const float fill = n == 0 ? 0.0f : std::nanf("");
    std::fill(out, out + a, fill);
    if (mask != nullptr) std::fill(mask, mask + a, fill);
    return;
  }
  Xoshiro256 rng(seed);
  int32_t* c = ws->hits.data();
  float* m = ws->scale.data();
  const double inv_total = 1.0 / total;
  if (independent) {
    // keep with probability 1 - (1 - p)^r = 1 / scale
    kKernels.scales(w, n, static_cast<double>(r) * inv_total, inv_total, static_cast<double>(r), m);
    for (int64_t k = 0; k < n; ++k) c[k] = rng.uniform() * m[k] < 1.0;
  } else {
    const int64_t N = kKernels.counts_scales(w, n, static_cast<double>(r) * inv_total, inv_total,
                                             static_cast<double>(r), c, m, &rng);
    correct_total(n, N, r, ws, &rng);
  }
  kKernels.expand(h, a, relu, c, m, out, mask);
}

// the backward pass of one row without a stored mask (see the header)
void sap_grad_row(const float* h, const float* out, const float* grad, float* grad_in, int64_t a,
                  int64_t r, bool relu, Workspace* ws) {
  float* w = ws->w.data();
  double total = 0.0;
  const int64_t n = kKernels.compact(h, a, relu, w, &total);
  if (n == 0 || !std::isfinite(total)) {  // the forward pass's mask was all 0 or all NaN
    const float fill = n == 0 ? 0.0f : std::nanf("");
    for (int64_t j = 0; j < a; ++j) grad_in[j] = grad[j] * fill;  // as grad * mask: -0, NaN kept
    return;
  }
  float* m = ws->scale.data();
  const double inv_total = 1.0 / total;
  kKernels.scales(w, n, static_cast<double>(r) * inv_total, inv_total, static_cast<double>(r), m);
  kKernels.grad(h, a, relu, out, m, grad, grad_in);
}

// ---------------------------------------------------------------------------------------------
// operator glue
// ---------------------------------------------------------------------------------------------
// Threads for the per-example loop: SAP_MX_NUM_THREADS, else OMP_NUM_THREADS, else every
// processor (MXNet sets the OpenMP default of its threads to 1, so it cannot be inherited).
int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? 0 : std::atoi(v);
}
const int kThreads = [] {
  if (env_int("SAP_MX_NUM_THREADS") > 0) return env_int("SAP_MX_NUM_THREADS");
  if (env_int("OMP_NUM_THREADS") > 0) return env_int("OMP_NUM_THREADS");
  return std::max(1, omp_get_num_procs());
}();

double attr_double(const std::unordered_map<std::string, std::string>& attrs, const char* key,
                   double fallback) {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : std::stod(it->second);
}

bool attr_bool(const std::unordered_map<std::string, std::string>& attrs, const char* key) {
  auto it = attrs.find(key);
  if (it == attrs.end()) return false;
  const std::string& v = it->second;
  return v == "1" || v == "True" || v == "true";
}

// with_mask: 1 (default) returns (out, mask), 0 returns out only
bool attr_with_mask(const std::unordered_map<std::string, std::string>& attrs) {
  return attrs.find("with_mask") == attrs.end() || attr_bool(attrs, "with_mask");
}

MXReturnValue sap_parse(const std::unordered_map<std::string, std::string>& attrs, int* num_in,
                        int* num_out) {
  *num_in = 1;
  *num_out = attr_with_mask(attrs) ? 2 : 1;
  const double frac = attr_double(attrs, "frac", 1.0);
  if (!(frac > 0.0) || !std::isfinite(frac)) {
    MX_ERROR_MSG << "sapmx_sap: frac must be a finite number > 0, got " << frac;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}

MXReturnValue sap_infer_type(const std::unordered_map<std::string, std::string>& attrs,
                             std::vector<int>* in, std::vector<int>* out) {
  if ((*in)[0] != kFloat32) {
    MX_ERROR_MSG << "sapmx_sap: float32 input required (got dtype code " << (*in)[0] << ")";
    return MX_FAIL;
  }
  for (auto& t : *out) t = kFloat32;
  return MX_SUCCESS;
}

MXReturnValue sap_infer_shape(const std::unordered_map<std::string, std::string>& attrs,
                              std::vector<std::vector<unsigned int>>* in,
                              std::vector<std::vector<unsigned int>>* out) {
  if ((*in)[0].empty()) {
    MX_ERROR_MSG << "sapmx_sap: input must have a batch axis";
    return MX_FAIL;
  }
  for (auto& shape : *out) shape = (*in)[0];
  return MX_SUCCESS;
}

// rows, entries per row (a) and draws per row (r) of a call; false (with the error set) when
// the sizes are out of range
bool geometry(const std::unordered_map<std::string, std::string>& attrs, MXTensor& data,
              int64_t* rows, int64_t* a, int64_t* r) {
  *rows = data.shape.empty() ? 0 : data.shape[0];
  *a = *rows == 0 ? 0 : data.size() / *rows;
  *r = 0;
  if (*a == 0) return true;
  if (*a > INT32_MAX) {
    MX_ERROR_MSG << "sapmx_sap: more than 2^31 entries per example are not supported";
    return false;
  }
  const double draws = attr_double(attrs, "frac", 1.0) * static_cast<double>(*a);
  if (draws > kMaxDraws) {
    MX_ERROR_MSG << "sapmx_sap: frac * a = " << draws << " draws per example; at most 2^30 "
                 << "are supported (lower frac)";
    return false;
  }
  *r = std::max<int64_t>(1, static_cast<int64_t>(draws));
  return true;
}

MXReturnValue sap_forward(const std::unordered_map<std::string, std::string>& attrs,
                          std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                          const OpResource& res) {
  MXTensor& data = (*inputs)[0];
  const bool independent = attr_bool(attrs, "independent");
  const bool relu = attr_bool(attrs, "relu");
  int64_t rows, a, r;
  if (!geometry(attrs, data, &rows, &a, &r)) return MX_FAIL;
  if (a == 0) return MX_SUCCESS;
  mx_cpu_rand_t* states = res.get_cpu_rand_states();
  const uint64_t base = (static_cast<uint64_t>(states[0]()) << 32) ^ static_cast<uint64_t>(states[0]());
  const float* x = data.data<float>();
  float* out = (*outputs)[0].data<float>();
  float* mask = outputs->size() > 1 ? (*outputs)[1].data<float>() : nullptr;
  const int threads = static_cast<int>(std::min<int64_t>(kThreads, rows));
#pragma omp parallel num_threads(threads)
  {
    static thread_local Workspace ws;  // reused across calls: no page faults on the hot path
    ws.reserve(a);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      sap_row(x + i * a, out + i * a, mask == nullptr ? nullptr : mask + i * a, a, r, independent,
              relu, row_seed(base, i), &ws);
    }
  }
  return MX_SUCCESS;
}

// inputs: [grad_out, grad_mask, data, out, mask] with the mask, [grad_out, data, out] without;
// outputs: [grad_data]
MXReturnValue sap_backward(const std::unordered_map<std::string, std::string>& attrs,
                           std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                           const OpResource& res) {
  const float* grad = (*inputs)[0].data<float>();
  float* grad_in = (*outputs)[0].data<float>();
  if (attr_with_mask(attrs)) {
    const float* mask = (*inputs)[4].data<float>();
    const int64_t size = (*inputs)[0].size();
#pragma omp parallel for schedule(static) num_threads(kThreads)
    for (int64_t i = 0; i < size; ++i) grad_in[i] = grad[i] * mask[i];
    return MX_SUCCESS;
  }
  MXTensor& data = (*inputs)[1];
  const float* x = data.data<float>();
  const float* out = (*inputs)[2].data<float>();
  const bool relu = attr_bool(attrs, "relu");
  int64_t rows, a, r;
  if (!geometry(attrs, data, &rows, &a, &r)) return MX_FAIL;
  if (a == 0) return MX_SUCCESS;
  const int threads = static_cast<int>(std::min<int64_t>(kThreads, rows));
#pragma omp parallel num_threads(threads)
  {
    static thread_local Workspace ws;
    ws.reserve(a);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      sap_grad_row(x + i * a, out + i * a, grad + i * a, grad_in + i * a, a, r, relu, &ws);
    }
  }
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(sapmx_sap)
    .setParseAttrs(sap_parse)
    .setInferType(sap_infer_type)
    .setInferShape(sap_infer_shape)
    .setForward(sap_forward, "cpu")
    .setBackward(sap_backward, "cpu");

MXReturnValue initialize(int version) {
  // lib_api version 11 ships with mxnet 1.9; version is MXNet's (e.g. 10901)
  if (version >= 10700) return MX_SUCCESS;
  MX_ERROR_MSG << "sap_mx native operators need mxnet >= 1.7, found " << version;
  return MX_FAIL;
}
