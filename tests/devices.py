"""The CUDA device the GPU tests need, if any: CuPy with at least one device, else None."""


def cupy_or_none():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # noqa: BLE001 - no CuPy or no driver: no GPU
        return None
