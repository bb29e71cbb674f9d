// Matrix-free grid Laplacian apply: y = diag * x - sum_nb w * x_nb, for k right-hand sides.
// Layout: row-major (m, n) weight arrays, as gpucircuit.operators.GridEdges stores them:
//   e[i,j]: (i,j)-(i,j+1)   s[i,j]: (i,j)-(i+1,j)   se[i,j]: (i,j)-(i+1,j+1)   sw[i,j]: (i,j)-(i+1,j-1)
// x and y are (k, m, n). One thread per cell loads the cell's up to 8 weights once and applies
// them to every right-hand side: the weights dominate the memory traffic, so several
// right-hand sides per pass cost little more than one.
// WT: edge-weight type; VT: diagonal and vector type (float/float, double/double, or float
// weights with double vectors: precision = single stores conductances in fp32 and keeps CG in
// fp64, the weights are widened in registers). EIGHT: 8 neighbours (se, sw present) or 4.

template <typename WT, typename VT, bool EIGHT>
__device__ __forceinline__ void stencil_apply_impl(
    const VT* __restrict__ diag, const WT* __restrict__ e, const WT* __restrict__ s,
    const WT* __restrict__ se, const WT* __restrict__ sw, const VT* __restrict__ x,
    VT* __restrict__ y, int m, int n, int k)
{
    const long long mn = (long long)m * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < mn;
         idx += (long long)gridDim.x * blockDim.x) {
        const int i = (int)(idx / n), j = (int)(idx % n);
        const bool up = i > 0, down = i < m - 1, left = j > 0, right = j < n - 1;
        const VT d = diag[idx];
        const VT we = right ? VT(e[idx]) : VT(0);
        const VT ww = left ? VT(e[idx - 1]) : VT(0);
        const VT ws = down ? VT(s[idx]) : VT(0);
        const VT wn = up ? VT(s[idx - n]) : VT(0);
        VT wse = 0, wnw = 0, wsw = 0, wne = 0;
        if (EIGHT) {
            wse = (down && right) ? VT(se[idx]) : VT(0);
            wnw = (up && left) ? VT(se[idx - n - 1]) : VT(0);
            wsw = (down && left) ? VT(sw[idx]) : VT(0);
            wne = (up && right) ? VT(sw[idx - n + 1]) : VT(0);
        }
        for (int r = 0; r < k; ++r) {
            const VT* xr = x + r * mn;
            VT acc = d * xr[idx];
            if (right) acc -= we * xr[idx + 1];
            if (left) acc -= ww * xr[idx - 1];
            if (down) acc -= ws * xr[idx + n];
            if (up) acc -= wn * xr[idx - n];
            if (EIGHT) {
                if (down && right) acc -= wse * xr[idx + n + 1];
                if (up && left) acc -= wnw * xr[idx - n - 1];
                if (down && left) acc -= wsw * xr[idx + n - 1];
                if (up && right) acc -= wne * xr[idx - n + 1];
            }
            y[r * mn + idx] = acc;
        }
    }
}

#define STENCIL_APPLY(NAME, WT, VT, EIGHT)                                                        \
    extern "C" __global__ void NAME(const VT* diag, const WT* e, const WT* s, const WT* se,        \
                                    const WT* sw, const VT* x, VT* y, int m, int n, int k) {       \
        stencil_apply_impl<WT, VT, EIGHT>(diag, e, s, se, sw, x, y, m, n, k);                       \
    }

STENCIL_APPLY(stencil_apply8_f64, double, double, true)
STENCIL_APPLY(stencil_apply4_f64, double, double, false)
STENCIL_APPLY(stencil_apply8_f32, float, float, true)
STENCIL_APPLY(stencil_apply4_f32, float, float, false)
STENCIL_APPLY(stencil_apply8_f32f64, float, double, true)
STENCIL_APPLY(stencil_apply4_f32f64, float, double, false)
