package dev.sluice.engine.cuda;

/**
 * One CUDA device as the driver reports it.
 *
 * @param index driver ordinal ({@code CUdevice})
 * @param name marketing name, e.g. {@code NVIDIA H100 80GB HBM3}
 * @param totalMemory bytes of device memory
 * @param ccMajor compute capability, major (9 for Hopper)
 * @param ccMinor compute capability, minor
 * @param multiprocessors streaming multiprocessors
 */
public record CudaDevice(
    int index, String name, long totalMemory, int ccMajor, int ccMinor, int multiprocessors) {

  @Override
  public String toString() {
    return "cuda:"
        + index
        + " "
        + name
        + " (sm_"
        + ccMajor
        + ccMinor
        + ", "
        + multiprocessors
        + " SMs, "
        + (totalMemory >> 20)
        + " MiB)";
  }
}
