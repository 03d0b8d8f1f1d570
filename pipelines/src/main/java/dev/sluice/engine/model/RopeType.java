package dev.sluice.engine.model;

/**
 * How rotary embeddings pair the dimensions of a head. {@code NORM} rotates adjacent pairs (2i,
 * 2i+1), as llama GGUF files expect (their Q/K weights are permuted at conversion); {@code NEOX}
 * rotates (i, i + rotDim/2), as qwen2 expects.
 */
public enum RopeType {
  NORM,
  NEOX
}
