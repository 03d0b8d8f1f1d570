package dev.sluice.engine.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A GGUF (v2/v3) file mapped into memory: its metadata and its tensor directory. Tensor data stays
 * in the mapping and is exposed as {@link MemorySegment} views; nothing is copied onto the heap.
 *
 * <p>Every offset and length read from the file is checked against the file size, so a corrupt or
 * truncated file fails here with a message naming the key or tensor, never later inside a kernel.
 * Closing the file unmaps it: tensors must not be used afterwards.
 *
 * <p>Metadata values are decoded as: integers of up to 32 bits to {@link Integer} (unsigned 32-bit
 * to {@link Long}), 64-bit integers to {@link Long}, floats to {@link Float}/{@link Double}, bools
 * to {@link Boolean}, strings to {@link String}; arrays of strings to {@code String[]}, of float32
 * to {@code float[]}, of 8/16/32-bit integers to {@code int[]}, of 64-bit integers to {@code
 * long[]}, of bools to {@code boolean[]}, of float64 to {@code double[]}.
 */
public final class GgufFile implements AutoCloseable {
  private static final int MAGIC = 0x46554747; // "GGUF" little-endian
  private static final int DEFAULT_ALIGNMENT = 32;
  private static final ValueLayout.OfInt I32 =
      ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final MemorySegment file;
  private final int version;
  private final Map<String, Object> metadata;
  private final Map<String, GgufValueType[]> metadataTypes = new LinkedHashMap<>();
  private final Map<String, GgufTensor> tensors;
  private final int alignment;
  private final long dataOffset;
  private long pos;

  private GgufFile(Path path, Arena arena, MemorySegment file) {
    this.path = path;
    this.arena = arena;
    this.file = file;
    int magic = readI32("magic");
    if (magic != MAGIC) {
      throw error("not a GGUF file (magic 0x%08x)", magic);
    }
    version = readI32("version");
    if (version != 2 && version != 3) {
      throw error("unsupported GGUF version %d (supported: 2, 3)", version);
    }
    long tensorCount = readI64("tensor_count");
    long kvCount = readI64("metadata_kv_count");
    if (tensorCount < 0 || tensorCount > 1_000_000 || kvCount < 0 || kvCount > 1_000_000) {
      throw error("implausible header: %d tensors, %d metadata keys", tensorCount, kvCount);
    }
    Map<String, Object> meta = new LinkedHashMap<>();
    for (long i = 0; i < kvCount; i++) {
      String key = readString("metadata key #" + i);
      int type = readI32(key);
      if (meta.put(key, readValue(key, type)) != null) {
        throw error("metadata key %s appears twice", key);
      }
    }
    metadata = Collections.unmodifiableMap(meta);
    Object align = meta.get("general.alignment");
    alignment = align == null ? DEFAULT_ALIGNMENT : ((Number) align).intValue();
    if (alignment <= 0 || Integer.bitCount(alignment) != 1) {
      throw error("general.alignment must be a power of two, got %d", alignment);
    }

    String[] names = new String[(int) tensorCount];
    long[][] shapes = new long[(int) tensorCount][];
    int[] types = new int[(int) tensorCount];
    long[] offsets = new long[(int) tensorCount];
    for (int i = 0; i < tensorCount; i++) {
      String name = readString("tensor #" + i + " name");
      int nDims = readI32(name + " n_dims");
      if (nDims < 1 || nDims > 4) {
        throw error("tensor %s: n_dims %d out of range 1..4", name, nDims);
      }
      long[] shape = new long[nDims];
      for (int d = 0; d < nDims; d++) {
        shape[d] = readI64(name + " dim " + d);
        if (shape[d] <= 0 || shape[d] > (1L << 40)) {
          throw error("tensor %s: dimension %d is %d", name, d, shape[d]);
        }
      }
      names[i] = name;
      shapes[i] = shape;
      types[i] = readI32(name + " type");
      offsets[i] = readI64(name + " offset");
    }
    dataOffset = alignUp(pos, alignment);

    Map<String, GgufTensor> ts = new LinkedHashMap<>();
    for (int i = 0; i < tensorCount; i++) {
      GgmlType type = GgmlType.byId(types[i]);
      if (type == null) {
        throw error("tensor %s: unsupported ggml type id %d", names[i], types[i]);
      }
      long elements = 1;
      for (long d : shapes[i]) {
        elements = Math.multiplyExact(elements, d);
      }
      if (shapes[i][0] % type.blockSize != 0) {
        throw error(
            "tensor %s: row width %d is not a multiple of the %s block (%d)",
            names[i], shapes[i][0], type, type.blockSize);
      }
      long bytes = type.bytesFor(elements);
      long start = dataOffset + offsets[i];
      if (offsets[i] < 0 || offsets[i] % alignment != 0) {
        throw error("tensor %s: offset %d is not aligned to %d", names[i], offsets[i], alignment);
      }
      if (start + bytes > file.byteSize()) {
        throw error(
            "tensor %s: data [%d, %d) runs past the end of the file (%d bytes): truncated?",
            names[i], start, start + bytes, file.byteSize());
      }
      if (ts.put(names[i], new GgufTensor(names[i], type, shapes[i], file.asSlice(start, bytes)))
          != null) {
        throw error("tensor %s appears twice", names[i]);
      }
    }
    tensors = Collections.unmodifiableMap(ts);
  }

  /** Maps and parses {@code path}. */
  public static GgufFile open(Path path) throws IOException {
    Arena arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
      return new GgufFile(path, arena, seg);
    } catch (IOException | RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  public Path path() {
    return path;
  }

  public int version() {
    return version;
  }

  public int alignment() {
    return alignment;
  }

  /** Byte offset of the tensor data section. */
  public long dataOffset() {
    return dataOffset;
  }

  public Map<String, Object> metadata() {
    return metadata;
  }

  public Map<String, GgufTensor> tensors() {
    return tensors;
  }

  /** The tensor named {@code name}; fails naming it when absent. */
  public GgufTensor tensor(String name) {
    GgufTensor t = tensors.get(name);
    if (t == null) {
      throw new GgufFormatException(path + ": missing tensor " + name);
    }
    return t;
  }

  /**
   * The on-disk type of metadata key {@code key} ({@link GgufValueType#ARRAY} for arrays), or
   * {@code null} when absent. The decoded values of {@link #metadata()} merge several widths, which
   * a copy into another file must not.
   */
  public GgufValueType valueType(String key) {
    GgufValueType[] t = metadataTypes.get(key);
    return t == null ? null : t[0];
  }

  /** The element type of array key {@code key}, or {@code null} when absent or not an array. */
  public GgufValueType arrayElementType(String key) {
    GgufValueType[] t = metadataTypes.get(key);
    return t == null || t.length < 2 ? null : t[1];
  }

  /** The metadata value of {@code key}, or {@code null}. */
  public Object get(String key) {
    return metadata.get(key);
  }

  /** A required metadata value of the given type; fails naming the key. */
  public <T> T require(String key, Class<T> type) {
    Object v = metadata.get(key);
    if (v == null) {
      throw new GgufFormatException(path + ": missing metadata key " + key);
    }
    if (!type.isInstance(v)) {
      throw new GgufFormatException(
          path
              + ": metadata key "
              + key
              + " is "
              + v.getClass().getSimpleName()
              + ", expected "
              + type.getSimpleName());
    }
    return type.cast(v);
  }

  /** An integer metadata value (any integer width), or {@code dflt} when absent. */
  public long getLong(String key, long dflt) {
    Object v = metadata.get(key);
    if (v == null) {
      return dflt;
    }
    if (v instanceof Integer || v instanceof Long) {
      return ((Number) v).longValue();
    }
    throw new GgufFormatException(path + ": metadata key " + key + " is not an integer: " + v);
  }

  /** A floating-point metadata value, or {@code dflt} when absent. */
  public double getDouble(String key, double dflt) {
    Object v = metadata.get(key);
    if (v == null) {
      return dflt;
    }
    if (v instanceof Number n) {
      return n.doubleValue();
    }
    throw new GgufFormatException(path + ": metadata key " + key + " is not a number: " + v);
  }

  /** A string metadata value, or {@code dflt} when absent. */
  public String getString(String key, String dflt) {
    Object v = metadata.get(key);
    if (v == null) {
      return dflt;
    }
    if (v instanceof String s) {
      return s;
    }
    throw new GgufFormatException(path + ": metadata key " + key + " is not a string: " + v);
  }

  @Override
  public void close() {
    arena.close();
  }

  private Object readValue(String key, int type) {
    GgufValueType t = GgufValueType.byId(type);
    if (t != null && t != GgufValueType.ARRAY) {
      metadataTypes.putIfAbsent(key, new GgufValueType[] {t});
    }
    return switch (type) {
      case 0 -> (int) readByte(key) & 0xff;
      case 1 -> (int) readByte(key);
      case 2 -> (int) readI16(key) & 0xffff;
      case 3 -> (int) readI16(key);
      case 4 -> Integer.toUnsignedLong(readI32(key));
      case 5 -> readI32(key);
      case 6 -> Float.intBitsToFloat(readI32(key));
      case 7 -> readByte(key) != 0;
      case 8 -> readString(key);
      case 9 -> readArray(key);
      case 10, 11 -> readI64(key);
      case 12 -> Double.longBitsToDouble(readI64(key));
      default -> throw error("metadata key %s: unknown value type %d", key, type);
    };
  }

  private Object readArray(String key) {
    int elemType = readI32(key + " array type");
    GgufValueType et = GgufValueType.byId(elemType);
    if (et != null) {
      metadataTypes.put(key, new GgufValueType[] {GgufValueType.ARRAY, et});
    }
    long count = readI64(key + " array length");
    if (count < 0 || count > file.byteSize() - pos) {
      throw error("metadata key %s: array length %d exceeds the file", key, count);
    }
    int n = (int) count;
    switch (elemType) {
      case 8 -> {
        String[] a = new String[n];
        for (int i = 0; i < n; i++) {
          a[i] = readString(key);
        }
        return a;
      }
      case 6 -> {
        need(key, 4L * n);
        float[] a = new float[n];
        MemorySegment.copy(file, F32, pos, a, 0, n);
        pos += 4L * n;
        return a;
      }
      case 0, 1, 2, 3, 4, 5 -> {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
          Object v = readValue(key, elemType);
          a[i] = v instanceof Long l ? (int) (long) l : (Integer) v;
        }
        return a;
      }
      case 10, 11 -> {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) {
          a[i] = readI64(key);
        }
        return a;
      }
      case 7 -> {
        boolean[] a = new boolean[n];
        for (int i = 0; i < n; i++) {
          a[i] = readByte(key) != 0;
        }
        return a;
      }
      case 12 -> {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
          a[i] = Double.longBitsToDouble(readI64(key));
        }
        return a;
      }
      default -> throw error("metadata key %s: unsupported array element type %d", key, elemType);
    }
  }

  private String readString(String what) {
    long len = readI64(what + " length");
    if (len < 0 || len > file.byteSize() - pos) {
      throw error("%s: string length %d exceeds the file", what, len);
    }
    byte[] b = new byte[(int) len];
    MemorySegment.copy(file, ValueLayout.JAVA_BYTE, pos, b, 0, (int) len);
    pos += len;
    return new String(b, StandardCharsets.UTF_8);
  }

  private byte readByte(String what) {
    need(what, 1);
    return file.get(ValueLayout.JAVA_BYTE, pos++);
  }

  private short readI16(String what) {
    need(what, 2);
    short v = file.get(I16, pos);
    pos += 2;
    return v;
  }

  private int readI32(String what) {
    need(what, 4);
    int v = file.get(I32, pos);
    pos += 4;
    return v;
  }

  private long readI64(String what) {
    need(what, 8);
    long v = file.get(I64, pos);
    pos += 8;
    return v;
  }

  private void need(String what, long bytes) {
    if (pos + bytes > file.byteSize()) {
      throw error("truncated file: %s needs %d bytes at offset %d", what, bytes, pos);
    }
  }

  private GgufFormatException error(String fmt, Object... args) {
    return new GgufFormatException(path + ": " + String.format(fmt, args));
  }

  private static long alignUp(long v, int a) {
    return (v + a - 1) / a * a;
  }
}
