package dev.sluice.engine.gguf;

/**
 * Tensor element types of GGUF files that Sluice reads. Ids are ggml's {@code ggml_type} values;
 * {@code blockSize} is the number of elements per quantization block and {@code typeSize} the bytes
 * per block (for unquantized types, one element per block).
 */
public enum GgmlType {
  F32(0, 1, 4),
  F16(1, 1, 2),
  Q4_0(2, 32, 18), // f16 scale + 16 bytes of 4-bit quants
  Q8_0(8, 32, 34), // f16 scale + 32 int8 quants
  Q4_K(12, 256, 144), // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of 4-bit quants
  Q6_K(14, 256, 210), // 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, f16 d
  BF16(30, 1, 2);

  public final int id;
  public final int blockSize;
  public final int typeSize;

  GgmlType(int id, int blockSize, int typeSize) {
    this.id = id;
    this.blockSize = blockSize;
    this.typeSize = typeSize;
  }

  /** Bytes taken by {@code elements} values; {@code elements} must be a multiple of the block. */
  public long bytesFor(long elements) {
    if (elements % blockSize != 0) {
      throw new IllegalArgumentException(
          name() + " needs a multiple of " + blockSize + " elements, got " + elements);
    }
    return elements / blockSize * typeSize;
  }

  /** The type with ggml id {@code id}, or {@code null} when Sluice does not support it. */
  public static GgmlType byId(int id) {
    for (GgmlType t : values()) {
      if (t.id == id) {
        return t;
      }
    }
    return null;
  }
}
