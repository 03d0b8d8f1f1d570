package dev.sluice.engine.cuda;

import static dev.sluice.engine.cuda.Cuda.check;
import static org.lwjgl.system.MemoryStack.stackPush;

import dev.sluice.engine.Backend;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.model.ModelWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import org.lwjgl.PointerBuffer;
import org.lwjgl.cuda.CU;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * One NVIDIA GPU as a {@link Backend}: the device's primary context, one stream, two timing events
 * and the kernels (PTX loaded once). Models loaded through it upload their weights once, in their
 * GGUF type, and keep their KV-cache blocks in device memory.
 *
 * <p>Threading: the thread that creates the backend owns it; every call re-binds the context to the
 * calling thread, so a worker may hand the backend to its dedicated device thread, but only one
 * thread may use it at a time. Failure: every driver call is checked and throws {@link
 * CudaException} naming the call; {@link CudaException#fatal()} says whether the context is lost
 * (the worker must stop) or only the current call failed. {@link #close()} frees everything,
 * including runners not yet closed.
 */
public final class CudaBackend implements Backend {
  private static final int COPY_CHUNK = 1 << 30;

  private final CudaDevice device;
  private final int cuDevice;
  private final long context;
  final long stream;
  private final long eventStart;
  private final long eventStop;
  final CudaKernels kernels;
  private final List<CudaModelRunner> runners = new ArrayList<>();
  private boolean closed;

  /**
   * Opens device {@code index}.
   *
   * @throws IllegalStateException when CUDA is unusable here or there is no such device
   * @throws CudaException when the driver refuses the context, stream or kernels
   */
  public CudaBackend(int index) {
    List<CudaDevice> devices = CudaDevices.discover();
    if (devices.isEmpty()) {
      throw new IllegalStateException("no CUDA device: " + CudaDevices.unavailableReason());
    }
    if (index < 0 || index >= devices.size()) {
      throw new IllegalStateException(
          "CUDA device index " + index + " out of range: " + devices.size() + " device(s)");
    }
    this.device = devices.get(index);
    try (MemoryStack s = stackPush()) {
      var dev = s.mallocInt(1);
      check(CU.cuDeviceGet(dev, index), "cuDeviceGet", index);
      this.cuDevice = dev.get(0);
      PointerBuffer p = s.mallocPointer(1);
      check(CU.cuDevicePrimaryCtxRetain(p, cuDevice), "cuDevicePrimaryCtxRetain", index);
      this.context = p.get(0);
      long st = 0;
      long e0 = 0;
      long e1 = 0;
      CudaKernels k = null;
      try {
        check(CU.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        check(CU.cuStreamCreate(p, CU.CU_STREAM_DEFAULT), "cuStreamCreate");
        st = p.get(0);
        check(CU.cuEventCreate(p, CU.CU_EVENT_DEFAULT), "cuEventCreate");
        e0 = p.get(0);
        check(CU.cuEventCreate(p, CU.CU_EVENT_DEFAULT), "cuEventCreate");
        e1 = p.get(0);
        k = new CudaKernels(device.ccMajor(), device.ccMinor(), st, false);
      } catch (RuntimeException e) {
        if (e1 != 0) {
          CU.cuEventDestroy(e1);
        }
        if (e0 != 0) {
          CU.cuEventDestroy(e0);
        }
        if (st != 0) {
          CU.cuStreamDestroy(st);
        }
        CU.cuDevicePrimaryCtxRelease(cuDevice);
        throw e;
      }
      this.stream = st;
      this.eventStart = e0;
      this.eventStop = e1;
      this.kernels = k;
    }
  }

  public CudaDevice device() {
    return device;
  }

  /** The kernel images loaded, e.g. {@code sm90.cubin} or {@code sm90.ptx} (JIT-compiled). */
  public String ptxVariant() {
    return kernels.ptxVariant;
  }

  /** Loads a second, independent copy of the kernels (tests: the PTX/JIT path on a 9.0 GPU). */
  CudaKernels loadKernels(boolean ptxOnly) {
    makeCurrent();
    return new CudaKernels(device.ccMajor(), device.ccMinor(), stream, ptxOnly);
  }

  @Override
  public String name() {
    return "cuda:" + device.index();
  }

  /**
   * Uploads the weights in the layout system property {@value CudaWeightLayout#PROPERTY} names
   * ({@code gguf} unless set).
   */
  @Override
  public ModelRunner load(ModelWeights weights, KvCacheSpec kvCache) {
    return load(weights, kvCache, CudaWeightLayout.fromSystemProperty());
  }

  /** Uploads the weights with matrices in {@code layout} (benchmarks and tests compare both). */
  public ModelRunner load(ModelWeights weights, KvCacheSpec kvCache, CudaWeightLayout layout) {
    ensureOpen();
    makeCurrent();
    CudaModelRunner r = new CudaModelRunner(this, weights, kvCache, layout);
    runners.add(r);
    return r;
  }

  void forget(CudaModelRunner r) {
    runners.remove(r);
  }

  void ensureOpen() {
    if (closed) {
      throw new IllegalStateException(name() + " is closed");
    }
  }

  /** Binds this backend's context to the calling thread (cheap when already bound). */
  void makeCurrent() {
    check(CU.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  }

  // ---- device memory (package-private: runners and tests) ----

  long alloc(long bytes) {
    try (MemoryStack s = stackPush()) {
      PointerBuffer p = s.mallocPointer(1);
      check(CU.cuMemAlloc(p, Math.max(bytes, 1)), "cuMemAlloc", bytes);
      return p.get(0);
    }
  }

  void free(long ptr) {
    if (ptr != 0) {
      check(CU.cuMemFree(ptr), "cuMemFree");
    }
  }

  /** Synchronous copy of a host segment (mapped file or off-heap) to device memory. */
  void upload(long dst, MemorySegment src) {
    long n = src.byteSize();
    if (!src.isNative()) {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment tmp = a.allocate(n, 16);
        tmp.copyFrom(src);
        upload(dst, tmp);
      }
      return;
    }
    for (long off = 0; off < n; off += COPY_CHUNK) {
      long len = Math.min(COPY_CHUNK, n - off);
      check(CU.ncuMemcpyHtoD(dst + off, src.address() + off, len), "cuMemcpyHtoD", len);
    }
  }

  long upload(float[] v) {
    long d = alloc(4L * v.length);
    FloatBuffer b = MemoryUtil.memAllocFloat(v.length);
    try {
      b.put(v).flip();
      check(CU.cuMemcpyHtoD(d, b), "cuMemcpyHtoD", 4L * v.length);
    } finally {
      MemoryUtil.memFree(b);
    }
    return d;
  }

  long upload(int[] v) {
    long d = alloc(4L * v.length);
    var b = MemoryUtil.memAllocInt(v.length);
    try {
      b.put(v).flip();
      check(CU.cuMemcpyHtoD(d, b), "cuMemcpyHtoD", 4L * v.length);
    } finally {
      MemoryUtil.memFree(b);
    }
    return d;
  }

  long upload(byte[] v) {
    long d = alloc(v.length);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(v.length, 16);
      MemorySegment.copy(v, 0, s, ValueLayout.JAVA_BYTE, 0, v.length);
      upload(d, s);
    }
    return d;
  }

  /** Waits for the stream, then copies {@code n} floats from device memory. */
  float[] downloadFloats(long src, int n) {
    sync();
    FloatBuffer b = MemoryUtil.memAllocFloat(n);
    try {
      check(CU.cuMemcpyDtoH(b, src), "cuMemcpyDtoH", 4L * n);
      float[] out = new float[n];
      b.get(out);
      return out;
    } finally {
      MemoryUtil.memFree(b);
    }
  }

  int[] downloadInts(long src, int n) {
    sync();
    var b = MemoryUtil.memAllocInt(n);
    try {
      check(CU.cuMemcpyDtoH(b, src), "cuMemcpyDtoH", 4L * n);
      int[] out = new int[n];
      b.get(out);
      return out;
    } finally {
      MemoryUtil.memFree(b);
    }
  }

  void sync() {
    check(CU.cuStreamSynchronize(stream), "cuStreamSynchronize");
  }

  /**
   * Measures device-to-device copy bandwidth: copies {@code bytes} between two buffers {@code
   * iterations} times on the stream, timed with events. Returns bytes moved per second, counting
   * each copied byte twice (read and written), which is what a memory-bound kernel is held against.
   */
  public double copyBandwidth(long bytes, int iterations) {
    ensureOpen();
    makeCurrent();
    long a = alloc(bytes);
    long b = 0;
    try {
      b = alloc(bytes);
      check(CU.cuMemsetD8Async(a, (byte) 1, bytes, stream), "cuMemsetD8Async");
      check(CU.cuMemcpyDtoDAsync(b, a, bytes, stream), "cuMemcpyDtoDAsync"); // warm-up
      check(CU.cuEventRecord(eventStart, stream), "cuEventRecord");
      for (int i = 0; i < iterations; i++) {
        check(CU.cuMemcpyDtoDAsync(b, a, bytes, stream), "cuMemcpyDtoDAsync", bytes);
      }
      check(CU.cuEventRecord(eventStop, stream), "cuEventRecord");
      check(CU.cuEventSynchronize(eventStop), "cuEventSynchronize");
      return 2.0 * bytes * iterations / (elapsedMs() / 1e3);
    } finally {
      free(b);
      free(a);
    }
  }

  /** Records the start event on the stream (timing of device work, see {@link #elapsedMs}). */
  void recordStart() {
    check(CU.cuEventRecord(eventStart, stream), "cuEventRecord");
  }

  void recordStop() {
    check(CU.cuEventRecord(eventStop, stream), "cuEventRecord");
  }

  /** Milliseconds between the start and stop events (waits for the stop event). */
  float elapsedMs() {
    check(CU.cuEventSynchronize(eventStop), "cuEventSynchronize");
    try (MemoryStack s = stackPush()) {
      var ms = s.mallocFloat(1);
      check(CU.cuEventElapsedTime(ms, eventStart, eventStop), "cuEventElapsedTime");
      return ms.get(0);
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    makeCurrent();
    for (CudaModelRunner r : List.copyOf(runners)) {
      r.close();
    }
    closed = true;
    kernels.close();
    CU.cuEventDestroy(eventStart);
    CU.cuEventDestroy(eventStop);
    CU.cuStreamDestroy(stream);
    check(CU.cuDevicePrimaryCtxRelease(cuDevice), "cuDevicePrimaryCtxRelease");
  }
}
