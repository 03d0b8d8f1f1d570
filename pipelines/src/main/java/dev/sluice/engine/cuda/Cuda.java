package dev.sluice.engine.cuda;

import static org.lwjgl.system.MemoryStack.stackPush;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.lwjgl.PointerBuffer;
import org.lwjgl.cuda.CU;
import org.lwjgl.system.Configuration;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * The one place where CUDA driver return codes are checked ({@link #check}), and where the driver
 * library is located and initialised. Package-private plumbing of the CUDA backend.
 */
final class Cuda {
  private static volatile boolean initialised;

  private Cuda() {}

  /** Throws a {@link CudaException} naming {@code call} unless {@code rc} is CUDA_SUCCESS. */
  static void check(int rc, String call) {
    if (rc != CU.CUDA_SUCCESS) {
      throw new CudaException(call, rc, errorName(rc), errorString(rc));
    }
  }

  /** Same as {@link #check(int, String)} with the call described lazily (only on failure). */
  static void check(int rc, String call, long arg) {
    if (rc != CU.CUDA_SUCCESS) {
      throw new CudaException(call + "(" + arg + ")", rc, errorName(rc), errorString(rc));
    }
  }

  static String errorName(int rc) {
    try (MemoryStack s = stackPush()) {
      PointerBuffer p = s.mallocPointer(1);
      if (CU.cuGetErrorName(rc, p) == CU.CUDA_SUCCESS && p.get(0) != 0) {
        return MemoryUtil.memASCII(p.get(0));
      }
    } catch (Throwable ignored) {
      // the name is a courtesy; the code is always reported
    }
    return "CUresult " + rc;
  }

  private static String errorString(int rc) {
    try (MemoryStack s = stackPush()) {
      PointerBuffer p = s.mallocPointer(1);
      if (CU.cuGetErrorString(rc, p) == CU.CUDA_SUCCESS && p.get(0) != 0) {
        return MemoryUtil.memASCII(p.get(0));
      }
    } catch (Throwable ignored) {
      // see errorName
    }
    return "";
  }

  /**
   * Points LWJGL at the driver library and calls {@code cuInit(0)} once. LWJGL looks for {@code
   * libcuda.so}, which driver installs inside containers often lack (only {@code libcuda.so.1}
   * exists), so unless {@code -Dorg.lwjgl.cuda.libname} is given the usual folders are searched.
   *
   * @throws LinkageError when no driver library can be loaded
   * @throws CudaException when {@code cuInit} fails (no device, driver too old, ...)
   */
  static synchronized void init() {
    if (initialised) {
      return;
    }
    if (System.getProperty("org.lwjgl.cuda.libname") == null) {
      String lib = findDriverLibrary();
      if (lib != null) {
        Configuration.CUDA_LIBRARY_NAME.set(lib);
      }
    }
    check(CU.cuInit(0), "cuInit");
    initialised = true;
  }

  private static String findDriverLibrary() {
    List<String> dirs = new ArrayList<>();
    String ld = System.getenv("LD_LIBRARY_PATH");
    if (ld != null) {
      for (String d : ld.split(":")) {
        if (!d.isEmpty()) {
          dirs.add(d);
        }
      }
    }
    dirs.addAll(
        List.of(
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/nvidia/lib64",
            "/usr/local/cuda/compat",
            "/usr/lib/wsl/lib",
            "/usr/lib/aarch64-linux-gnu"));
    for (String name : List.of("libcuda.so", "libcuda.so.1")) {
      for (String d : dirs) {
        Path p = Path.of(d, name);
        if (Files.isReadable(p)) {
          return p.toString();
        }
      }
    }
    return null;
  }
}
