package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;

/**
 * The native CPU kernels ({@code libsluicecpu.so}, built from {@code pipelines/src/main/c} by gcc
 * during the build and packaged in the jar): quantized matrix products with AVX-512 VNNI integer
 * dot products, which the Vector API cannot express (docs/kernels.md, "Native VNNI kernels").
 * {@link MatMul#fast} routes Q8_0, Q4_0, Q4_K and Q6_K weights here when {@link #available()};
 * everything else, and every machine without the library or the instructions, runs the Vector API
 * kernels.
 *
 * <p>Switched off with {@code -Dsluice.engine.native=false} or {@code SLUICE_NATIVE_KERNELS=false}
 * (for A/B measurements, or to rule the native code out). {@link #status()} says in one line which
 * kernels run and why; nodes log it at start.
 *
 * <p>Failure semantics: loading never throws; a missing library, an unsupported CPU or platform, a
 * mismatched ABI or a refused native access leave {@link #available()} false with the reason in
 * {@link #status()}. The kernels trust their arguments, so {@link #matmul} is only called after
 * {@link MatMul#validate}. Thread-safety: each thread quantizes into its own off-heap scratch.
 */
public final class NativeKernels {

  private NativeKernels() {}

  /** The ABI version of {@code sluice_cpu.h} this binding was written against. */
  static final int ABI_VERSION = 1;

  private static final String RESOURCE = "/native/linux-x86_64/libsluicecpu.so";

  private static final MethodHandle MATMUL;
  private static final String STATUS;

  static {
    MethodHandle mm = null;
    String status;
    try {
      String off = disabledBy();
      if (off != null) {
        status = "off (" + off + ")";
      } else {
        Path lib = extract();
        if (lib == null) {
          status =
              "off (this build has no "
                  + RESOURCE
                  + "; gcc was missing or the platform is not Linux x86-64)";
        } else {
          Linker linker = Linker.nativeLinker();
          SymbolLookup syms = SymbolLookup.libraryLookup(lib, Arena.global());
          MethodHandle supported =
              linker.downcallHandle(
                  syms.findOrThrow("sluice_cpu_supported"),
                  FunctionDescriptor.of(ValueLayout.JAVA_INT));
          MethodHandle abi =
              linker.downcallHandle(
                  syms.findOrThrow("sluice_abi_version"),
                  FunctionDescriptor.of(ValueLayout.JAVA_INT));
          int version = (int) abi.invokeExact();
          if (version != ABI_VERSION) {
            status =
                "off (libsluicecpu ABI " + version + ", this binding needs " + ABI_VERSION + ")";
          } else if ((int) supported.invokeExact() == 0) {
            status = "off (this CPU lacks AVX-512 F/BW/VL/VNNI, FMA or F16C)";
          } else {
            mm =
                linker.downcallHandle(
                    syms.findOrThrow("sluice_matmul"),
                    FunctionDescriptor.of(
                        ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, // type
                        ValueLayout.ADDRESS, // w
                        ValueLayout.JAVA_LONG, // row_bytes
                        ValueLayout.JAVA_INT, // cols
                        ValueLayout.ADDRESS, // x
                        ValueLayout.JAVA_INT, // T
                        ValueLayout.ADDRESS, // out
                        ValueLayout.JAVA_LONG, // out_stride
                        ValueLayout.JAVA_INT, // r0
                        ValueLayout.JAVA_INT, // r1
                        ValueLayout.ADDRESS), // scratch
                    // A short, non-blocking call on arrays the caller owns: no thread-state
                    // transition, and heap arrays passed in place (no copy).
                    Linker.Option.critical(true));
            status = "on (libsluicecpu, AVX-512 VNNI: Q8_0 Q4_0 Q4_K Q6_K)";
          }
        }
      }
    } catch (Throwable e) { // IllegalCallerException (native access refused), I/O, linkage
      mm = null;
      status = "off (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
    }
    MATMUL = mm;
    STATUS = status;
  }

  private static String disabledBy() {
    return disabledBy(
        System.getProperty("sluice.engine.native"), System.getenv("SLUICE_NATIVE_KERNELS"));
  }

  /**
   * Why the switches turn the native kernels off, or null when they leave them on: {@code prop} is
   * {@code -Dsluice.engine.native}, {@code env} is {@code SLUICE_NATIVE_KERNELS} (either may be
   * null). A value other than true/false/on/off/1/0/yes/no turns them off too, with a reason that
   * names it, rather than being read as "on".
   */
  static String disabledBy(String prop, String env) {
    String[][] switches = {{"-Dsluice.engine.native", prop}, {"SLUICE_NATIVE_KERNELS", env}};
    for (String[] sw : switches) {
      String v = sw[1];
      if (v == null) {
        continue;
      }
      switch (v.trim().toLowerCase(Locale.ROOT)) {
        case "true", "on", "1", "yes" -> {}
        case "false", "off", "0", "no" -> {
          return sw[0] + "=" + v;
        }
        default -> {
          return sw[0] + "=" + v + " is not one of true, false, on, off, 1, 0, yes, no";
        }
      }
    }
    return null;
  }

  /**
   * Copies the packaged library to a file (a jar entry cannot be mapped): {@code
   * ~/.cache/sluice/native/<content hash>/libsluicecpu.so}, in the user's own cache (like the model
   * cache) so that no other user of the machine can plant a library there, and named by content so
   * that every JVM of one build shares one copy and a killed JVM leaves nothing new. A copy that is
   * there is used only if its bytes are the packaged ones. Where the home folder is not writable, a
   * fresh private temporary folder, removed at exit.
   */
  private static Path extract() throws IOException {
    byte[] bytes;
    try (InputStream in = NativeKernels.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        return null;
      }
      bytes = in.readAllBytes();
    }
    String hash;
    try {
      hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IOException(e);
    }
    try {
      Path dir = Path.of(System.getProperty("user.home"), ".cache", "sluice", "native", hash);
      Path lib = dir.resolve("libsluicecpu.so");
      if (Files.isRegularFile(lib) && Arrays.equals(Files.readAllBytes(lib), bytes)) {
        return lib;
      }
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, "libsluicecpu", ".tmp");
      Files.write(tmp, bytes);
      Files.move(tmp, lib, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return lib;
    } catch (IOException | RuntimeException e) { // read-only or missing home folder
      Path dir = Files.createTempDirectory("sluice-native");
      Path lib = dir.resolve("libsluicecpu.so");
      Files.write(lib, bytes);
      lib.toFile().deleteOnExit();
      dir.toFile().deleteOnExit();
      return lib;
    }
  }

  /** Whether the native kernels run here. */
  public static boolean available() {
    return MATMUL != null;
  }

  /** One line for logs: "on (...)" or "off (reason)". */
  public static String status() {
    return STATUS;
  }

  /** Whether {@link #matmul} takes weights of this type (and the kernels are available). */
  static boolean handles(GgmlType type) {
    return MATMUL != null
        && (type == GgmlType.Q8_0
            || type == GgmlType.Q4_0
            || type == GgmlType.Q4_K
            || type == GgmlType.Q6_K);
  }

  /**
   * Per thread: the 64-byte aligned scratch for the quantized activations, grown on demand, and the
   * heap segments of the last arrays passed (the backend's activation and output buffers live as
   * long as the model, so a steady stream of calls wraps each once and allocates nothing).
   */
  private static final class Scratch {
    private MemorySegment seg = MemorySegment.NULL;
    private final float[][] arrays = new float[4][];
    private final MemorySegment[] segments = new MemorySegment[4];
    private int next;

    MemorySegment get(long bytes) {
      if (bytes > seg.byteSize()) {
        seg = Arena.ofAuto().allocate(Math.max(bytes, seg.byteSize() * 2), 64);
      }
      return seg;
    }

    MemorySegment of(float[] a) {
      for (int i = 0; i < arrays.length; i++) {
        if (arrays[i] == a) {
          return segments[i];
        }
      }
      MemorySegment m = MemorySegment.ofArray(a);
      arrays[next] = a;
      segments[next] = m;
      next = (next + 1) % arrays.length;
      return m;
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * {@link MatMul#fast}'s contract for a type {@link #handles} accepts, arguments already
   * validated: {@code out[t * rows + r]} for {@code t < T}, {@code r0 <= r < r1}.
   */
  static void matmul(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    int cols = w.cols();
    Scratch sc = SCRATCH.get();
    MemorySegment scratch = sc.get((long) T * cols * 2 + 4096); // SLUICE_SCRATCH_BYTES(cols, T)
    int rc;
    try {
      rc =
          (int)
              MATMUL.invokeExact(
                  w.type().id,
                  w.data(),
                  MatMul.rowBytes(w),
                  cols,
                  sc.of(x),
                  T,
                  sc.of(out),
                  (long) w.rows(),
                  r0,
                  r1,
                  scratch);
    } catch (Throwable e) {
      throw new IllegalStateException("native matmul failed on tensor " + w.name(), e);
    }
    if (rc != 0) {
      throw new IllegalStateException(
          "libsluicecpu has no kernel for tensor " + w.name() + " of type " + w.type());
    }
  }
}
