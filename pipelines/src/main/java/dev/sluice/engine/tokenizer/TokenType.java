package dev.sluice.engine.tokenizer;

/**
 * The kind of a vocabulary entry, as stored in {@code tokenizer.ggml.token_type} (the values are
 * SentencePiece's piece types, which GGUF reuses).
 */
public enum TokenType {
  /** 0, or any value GGUF does not define: treated like an unused token. */
  UNDEFINED,
  /** 1: an ordinary piece of text. */
  NORMAL,
  /** 2: the unknown token ({@code <unk>}). */
  UNKNOWN,
  /** 3: a control token (BOS, EOS, chat markers); never produced from plain text. */
  CONTROL,
  /** 4: a user-defined token, matched in text before the tokenizer model runs. */
  USER_DEFINED,
  /** 5: reserved and unused. */
  UNUSED,
  /** 6: one raw byte ({@code <0xAB>}) for SentencePiece byte fallback. */
  BYTE;

  static TokenType fromGguf(int v) {
    return switch (v) {
      case 1 -> NORMAL;
      case 2 -> UNKNOWN;
      case 3 -> CONTROL;
      case 4 -> USER_DEFINED;
      case 5 -> UNUSED;
      case 6 -> BYTE;
      default -> UNDEFINED;
    };
  }
}
