// Matrix-free grid Laplacian apply: y = diag * x - sum_nb w * x_nb, for k right-hand sides.
// Layout: row-major (m, n) weight arrays, as gpucircuit.operators.GridEdges stores them:
//   e[i,j]: (i,j)-(i,j+1)   s[i,j]: (i,j)-(i+1,j)   se[i,j]: (i,j)-(i+1,j+1)   sw[i,j]: (i,j)-(i+1,j-1)
// x and y are (k, m, n). One thread per cell loads the cell's up to 8 weights once and applies
// them to every right-hand side: the weights dominate the memory traffic, so several
// right-hand sides per pass cost little more than one.
// WT: weight/vector type (float or double); EIGHT: 8 neighbours (se, sw present) or 4.

template <typename WT, bool EIGHT>
__device__ __forceinline__ void stencil_apply_impl(
    const WT* __restrict__ diag, const WT* __restrict__ e, const WT* __restrict__ s,
    const WT* __restrict__ se, const WT* __restrict__ sw, const WT* __restrict__ x,
    WT* __restrict__ y, int m, int n, int k)
{
    const long long mn = (long long)m * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < mn;
         idx += (long long)gridDim.x * blockDim.x) {
        const int i = (int)(idx / n), j = (int)(idx % n);
        const bool up = i > 0, down = i < m - 1, left = j > 0, right = j < n - 1;
        const WT d = diag[idx];
        const WT we = right ? e[idx] : WT(0);
        const WT ww = left ? e[idx - 1] : WT(0);
        const WT ws = down ? s[idx] : WT(0);
        const WT wn = up ? s[idx - n] : WT(0);
        WT wse = 0, wnw = 0, wsw = 0, wne = 0;
        if (EIGHT) {
            wse = (down && right) ? se[idx] : WT(0);
            wnw = (up && left) ? se[idx - n - 1] : WT(0);
            wsw = (down && left) ? sw[idx] : WT(0);
            wne = (up && right) ? sw[idx - n + 1] : WT(0);
        }
        for (int r = 0; r < k; ++r) {
            const WT* xr = x + r * mn;
            WT acc = d * xr[idx];
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

#define STENCIL_APPLY(NAME, WT, EIGHT)                                                            \
    extern "C" __global__ void NAME(const WT* diag, const WT* e, const WT* s, const WT* se,        \
                                    const WT* sw, const WT* x, WT* y, int m, int n, int k) {       \
        stencil_apply_impl<WT, EIGHT>(diag, e, s, se, sw, x, y, m, n, k);                           \
    }

STENCIL_APPLY(stencil_apply8_f64, double, true)
STENCIL_APPLY(stencil_apply4_f64, double, false)
STENCIL_APPLY(stencil_apply8_f32, float, true)
STENCIL_APPLY(stencil_apply4_f32, float, false)
