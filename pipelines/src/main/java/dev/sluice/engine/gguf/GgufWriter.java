package dev.sluice.engine.gguf;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF v3 files: typed metadata (every GGUF value type, arrays included), a tensor directory
 * and the tensor data, each tensor aligned to {@code general.alignment}. Tensor bytes are streamed
 * from a {@link TensorSource} straight to the file, so a model larger than the heap can be written.
 *
 * <p>The file appears atomically: it is written next to the target and moved into place at the end,
 * so a crash never leaves a truncated file under the final name. A source that writes more or fewer
 * bytes than its type and shape require fails the write, naming the tensor.
 *
 * <p>Not thread-safe; one writer builds one file.
 */
public final class GgufWriter {

  /** Produces the bytes of one tensor, in file order (ggml's row-major block layout). */
  @FunctionalInterface
  public interface TensorSource {
    void writeTo(OutputStream out) throws IOException;
  }

  private record Value(GgufValueType type, GgufValueType elemType, Object value) {}

  private record Tensor(String name, GgmlType type, long[] shape, long bytes, TensorSource src) {}

  private final Map<String, Value> metadata = new LinkedHashMap<>();
  private final Map<String, Tensor> tensors = new LinkedHashMap<>();
  private int alignment = 32;

  /** Sets {@code general.alignment} (a power of two; 32 by default). */
  public GgufWriter alignment(int alignment) {
    if (alignment <= 0 || Integer.bitCount(alignment) != 1 || alignment % 8 != 0) {
      throw new IllegalArgumentException(
          "alignment must be a power of two and a multiple of 8, got " + alignment);
    }
    this.alignment = alignment;
    put("general.alignment", GgufValueType.UINT32, (long) alignment);
    return this;
  }

  public GgufWriter putString(String key, String v) {
    return put(key, GgufValueType.STRING, v);
  }

  public GgufWriter putUInt32(String key, long v) {
    return put(key, GgufValueType.UINT32, v);
  }

  public GgufWriter putInt32(String key, int v) {
    return put(key, GgufValueType.INT32, v);
  }

  public GgufWriter putFloat32(String key, float v) {
    return put(key, GgufValueType.FLOAT32, v);
  }

  public GgufWriter putBool(String key, boolean v) {
    return put(key, GgufValueType.BOOL, v);
  }

  /**
   * Puts a scalar of any type. Integers are given as any {@link Number} and checked against the
   * type's range; floats as {@link Number}; bools as {@link Boolean}; strings as {@link String}.
   */
  public GgufWriter put(String key, GgufValueType type, Object value) {
    if (type == GgufValueType.ARRAY) {
      throw new IllegalArgumentException(key + ": use putArray for arrays");
    }
    checkScalar(key, type, value);
    metadata.put(requireKey(key), new Value(type, null, value));
    return this;
  }

  /**
   * Puts an array of {@code elemType}. {@code values} is a Java array: {@code String[]}, {@code
   * float[]}, {@code double[]}, {@code boolean[]}, {@code int[]} or {@code long[]} (integers are
   * range-checked against {@code elemType}), or {@code Object[]} of boxed values. Nested arrays are
   * not supported (no model uses them).
   */
  public GgufWriter putArray(String key, GgufValueType elemType, Object values) {
    if (elemType == GgufValueType.ARRAY) {
      throw new IllegalArgumentException(key + ": nested arrays are not supported");
    }
    if (values == null || !values.getClass().isArray()) {
      throw new IllegalArgumentException(key + ": not an array: " + values);
    }
    int n = java.lang.reflect.Array.getLength(values);
    for (int i = 0; i < n; i++) {
      checkScalar(key + "[" + i + "]", elemType, java.lang.reflect.Array.get(values, i));
    }
    metadata.put(requireKey(key), new Value(GgufValueType.ARRAY, elemType, values));
    return this;
  }

  /**
   * Copies the metadata keys of {@code src} that start with {@code prefix}, keeping their on-disk
   * types (e.g. {@code tokenizer.} to give a model a real vocabulary).
   */
  public GgufWriter copyMetadata(GgufFile src, String prefix) {
    for (Map.Entry<String, Object> e : src.metadata().entrySet()) {
      String key = e.getKey();
      if (!key.startsWith(prefix)) {
        continue;
      }
      GgufValueType t = src.valueType(key);
      if (t == GgufValueType.ARRAY) {
        putArray(key, src.arrayElementType(key), e.getValue());
      } else {
        put(key, t, e.getValue());
      }
    }
    return this;
  }

  public boolean hasKey(String key) {
    return metadata.containsKey(key);
  }

  /**
   * Adds a tensor. {@code shape} is in ggml order ({@code shape[0]} is the contiguous row width);
   * {@code src} must write exactly {@code type.bytesFor(elements)} bytes when the file is written.
   */
  public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorSource src) {
    if (name == null || name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length > 64) {
      throw new IllegalArgumentException("tensor name must be 1..64 bytes: " + name);
    }
    if (shape.length < 1 || shape.length > 4) {
      throw new IllegalArgumentException(name + ": 1..4 dimensions, got " + shape.length);
    }
    long elements = 1;
    for (long d : shape) {
      if (d <= 0) {
        throw new IllegalArgumentException(name + ": bad shape " + Arrays.toString(shape));
      }
      elements = Math.multiplyExact(elements, d);
    }
    if (shape[0] % type.blockSize != 0) {
      throw new IllegalArgumentException(
          name
              + ": row width "
              + shape[0]
              + " is not a multiple of the "
              + type
              + " block ("
              + type.blockSize
              + ")");
    }
    if (tensors.containsKey(name)) {
      throw new IllegalArgumentException("tensor " + name + " added twice");
    }
    tensors.put(name, new Tensor(name, type, shape.clone(), type.bytesFor(elements), src));
    return this;
  }

  /** Adds an F32 tensor holding {@code values}. */
  public GgufWriter addF32(String name, long[] shape, float[] values) {
    return addTensor(
        name,
        GgmlType.F32,
        shape,
        out -> {
          byte[] b = new byte[values.length * 4];
          ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
          out.write(b);
        });
  }

  /** Writes the file; the target appears only once it is complete. */
  public void write(Path path) throws IOException {
    Path parent = path.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, path.getFileName().toString(), ".part");
    try {
      try (CountingStream out =
          new CountingStream(new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20))) {
        writeTo(out);
      }
      Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private void writeTo(CountingStream out) throws IOException {
    Le le = new Le(out);
    le.i32(0x46554747); // "GGUF"
    le.i32(3);
    le.i64(tensors.size());
    le.i64(metadata.size());
    for (Map.Entry<String, Value> e : metadata.entrySet()) {
      le.string(e.getKey());
      Value v = e.getValue();
      le.i32(v.type.id);
      if (v.type == GgufValueType.ARRAY) {
        int n = java.lang.reflect.Array.getLength(v.value);
        le.i32(v.elemType.id);
        le.i64(n);
        for (int i = 0; i < n; i++) {
          le.scalar(v.elemType, java.lang.reflect.Array.get(v.value, i));
        }
      } else {
        le.scalar(v.type, v.value);
      }
    }
    List<Tensor> list = new ArrayList<>(tensors.values());
    long offset = 0;
    long[] offsets = new long[list.size()];
    for (int i = 0; i < list.size(); i++) {
      Tensor t = list.get(i);
      offsets[i] = offset;
      le.string(t.name);
      le.i32(t.shape.length);
      for (long d : t.shape) {
        le.i64(d);
      }
      le.i32(t.type.id);
      le.i64(offset);
      offset = alignUp(offset + t.bytes, alignment);
    }
    pad(out, alignment);
    long dataStart = out.count;
    for (int i = 0; i < list.size(); i++) {
      Tensor t = list.get(i);
      long start = out.count;
      if (start - dataStart != offsets[i]) {
        throw new IllegalStateException("tensor " + t.name + " placed at the wrong offset");
      }
      t.src.writeTo(out);
      long written = out.count - start;
      if (written != t.bytes) {
        throw new IOException(
            "tensor "
                + t.name
                + ": source wrote "
                + written
                + " bytes, "
                + t.type
                + " "
                + Arrays.toString(t.shape)
                + " needs "
                + t.bytes);
      }
      pad(out, alignment);
    }
  }

  private static void pad(CountingStream out, int alignment) throws IOException {
    long padding = alignUp(out.count, alignment) - out.count;
    for (long i = 0; i < padding; i++) {
      out.write(0);
    }
  }

  private static long alignUp(long v, int a) {
    return (v + a - 1) / a * a;
  }

  private static String requireKey(String key) {
    if (key == null || key.isEmpty()) {
      throw new IllegalArgumentException("empty metadata key");
    }
    return key;
  }

  private static void checkScalar(String key, GgufValueType type, Object v) {
    boolean ok =
        switch (type) {
          case STRING -> v instanceof String;
          case BOOL -> v instanceof Boolean;
          case FLOAT32, FLOAT64 -> v instanceof Number;
          case UINT8 -> inRange(v, 0, 0xff);
          case INT8 -> inRange(v, Byte.MIN_VALUE, Byte.MAX_VALUE);
          case UINT16 -> inRange(v, 0, 0xffff);
          case INT16 -> inRange(v, Short.MIN_VALUE, Short.MAX_VALUE);
          // GgufFile decodes uint32 arrays to int[] (two's complement): an Integer is its bits
          case UINT32 -> v instanceof Integer || inRange(v, 0, 0xffffffffL);
          case INT32 -> inRange(v, Integer.MIN_VALUE, Integer.MAX_VALUE);
          case UINT64, INT64 -> v instanceof Long || v instanceof Integer;
          case ARRAY -> false;
        };
    if (!ok) {
      throw new IllegalArgumentException(
          "metadata key " + key + ": value " + v + " does not fit type " + type);
    }
  }

  private static boolean inRange(Object v, long lo, long hi) {
    if (!(v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte)) {
      return false;
    }
    long x = ((Number) v).longValue();
    return x >= lo && x <= hi;
  }

  /** Little-endian primitive writes. */
  private static final class Le {
    private final OutputStream out;
    private final ByteBuffer buf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

    Le(OutputStream out) {
      this.out = out;
    }

    void i8(int v) throws IOException {
      out.write(v);
    }

    void i16(int v) throws IOException {
      buf.clear();
      buf.putShort((short) v);
      out.write(buf.array(), 0, 2);
    }

    void i32(int v) throws IOException {
      buf.clear();
      buf.putInt(v);
      out.write(buf.array(), 0, 4);
    }

    void i64(long v) throws IOException {
      buf.clear();
      buf.putLong(v);
      out.write(buf.array(), 0, 8);
    }

    void string(String s) throws IOException {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      i64(b.length);
      out.write(b);
    }

    void scalar(GgufValueType t, Object v) throws IOException {
      switch (t) {
        case UINT8, INT8 -> i8(((Number) v).intValue());
        case UINT16, INT16 -> i16(((Number) v).intValue());
        case UINT32, INT32 -> i32((int) ((Number) v).longValue());
        case FLOAT32 -> i32(Float.floatToRawIntBits(((Number) v).floatValue()));
        case BOOL -> i8((Boolean) v ? 1 : 0);
        case STRING -> string((String) v);
        case UINT64, INT64 -> i64(((Number) v).longValue());
        case FLOAT64 -> i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
        case ARRAY -> throw new IllegalArgumentException("nested array");
      }
    }
  }

  /** Counts bytes so tensor sizes and alignment padding are checked against the file offset. */
  private static final class CountingStream extends OutputStream {
    private final OutputStream out;
    long count;

    CountingStream(OutputStream out) {
      this.out = out;
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count += len;
    }

    @Override
    public void close() throws IOException {
      out.close();
    }
  }
}
