package dev.sluice.engine.cuda;

import static dev.sluice.engine.cuda.Cuda.check;
import static org.lwjgl.system.MemoryStack.stackPush;

import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.List;
import org.lwjgl.PointerBuffer;
import org.lwjgl.cuda.CU;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * Finds the CUDA devices of this machine. Never throws: with no driver library, no device or a
 * driver that refuses to initialise, {@link #discover()} returns an empty list and {@link
 * #unavailableReason()} says why, so callers fall back to the CPU.
 */
public final class CudaDevices {
  private static volatile String reason = "not probed yet";
  // A missing driver library does not appear later in the life of a process: remember the first
  // (most telling) error instead of LWJGL's later "Could not initialize class".
  private static volatile String linkFailure;

  private CudaDevices() {}

  /** All devices, in driver order; empty when CUDA is unusable here. */
  public static List<CudaDevice> discover() {
    if (linkFailure != null) {
      reason = linkFailure;
      return List.of();
    }
    try {
      Cuda.init();
      List<CudaDevice> out = new ArrayList<>();
      try (MemoryStack s = stackPush()) {
        IntBuffer count = s.mallocInt(1);
        check(CU.cuDeviceGetCount(count), "cuDeviceGetCount");
        for (int i = 0; i < count.get(0); i++) {
          out.add(describe(i));
        }
      }
      reason = out.isEmpty() ? "the CUDA driver reports no device" : null;
      return List.copyOf(out);
    } catch (CudaException e) {
      reason = "CUDA driver present but unusable: " + e.getMessage();
    } catch (LinkageError e) {
      // UnsatisfiedLinkError (no libcuda), NoClassDefFoundError/ExceptionInInitializerError (LWJGL
      // natives missing, or a driver without a function LWJGL requires)
      reason = "no CUDA driver: " + e;
      linkFailure = reason;
    } catch (RuntimeException e) {
      reason = "CUDA probe failed: " + e;
    }
    return List.of();
  }

  /** Why {@link #discover()} last returned no device, or {@code null} when it found some. */
  public static String unavailableReason() {
    return reason;
  }

  static CudaDevice describe(int ordinal) {
    try (MemoryStack s = stackPush()) {
      IntBuffer dev = s.mallocInt(1);
      check(CU.cuDeviceGet(dev, ordinal), "cuDeviceGet", ordinal);
      int d = dev.get(0);
      ByteBuffer name = s.malloc(256);
      check(CU.cuDeviceGetName(name, d), "cuDeviceGetName");
      PointerBuffer mem = s.mallocPointer(1);
      check(CU.cuDeviceTotalMem(mem, d), "cuDeviceTotalMem");
      return new CudaDevice(
          ordinal,
          MemoryUtil.memASCII(MemoryUtil.memAddress(name)),
          mem.get(0),
          attribute(s, d, CU.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
          attribute(s, d, CU.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
          attribute(s, d, CU.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
    }
  }

  private static int attribute(MemoryStack s, int dev, int attr) {
    IntBuffer v = s.mallocInt(1);
    check(CU.cuDeviceGetAttribute(v, attr, dev), "cuDeviceGetAttribute", attr);
    return v.get(0);
  }
}
