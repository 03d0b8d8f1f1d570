package dev.sluice.node.serialization;

/**
 * Marks a message type that is not a record (an enum such as {@code Tick}, or a final class) as
 * serialized by {@link KryoSerializer}. Records need no marker: every {@code java.lang.Record} is
 * bound to Kryo. In both cases the concrete class must still be listed in {@code
 * sluice.serialization.kryo.classes}, or sending it across the network fails with a logged error.
 */
public interface KryoMessage {}
