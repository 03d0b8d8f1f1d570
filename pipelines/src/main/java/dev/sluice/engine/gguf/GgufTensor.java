package dev.sluice.engine.gguf;

import java.lang.foreign.MemorySegment;

/**
 * One tensor of a GGUF file: a view of the memory-mapped file, never a copy.
 *
 * @param name the tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param type the element type
 * @param shape ggml order: {@code shape[0]} is the contiguous (row) dimension, so a weight matrix
 *     of {@code rows x cols} (out x in) has {@code shape = {cols, rows}}
 * @param data the tensor bytes, exactly {@code type.bytesFor(elements())} long
 */
public record GgufTensor(String name, GgmlType type, long[] shape, MemorySegment data) {

  public long elements() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  /** Contiguous dimension (input width for a weight matrix). */
  public int cols() {
    return Math.toIntExact(shape[0]);
  }

  /** Number of rows (output width for a weight matrix); 1 for a vector. */
  public int rows() {
    return Math.toIntExact(elements() / shape[0]);
  }
}
