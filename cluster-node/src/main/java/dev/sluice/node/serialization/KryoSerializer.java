package dev.sluice.node.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.ImmutableCollectionsSerializers;
import com.esotericsoftware.kryo.util.DefaultClassResolver;
import com.esotericsoftware.kryo.util.DefaultInstantiatorStrategy;
import com.esotericsoftware.kryo.util.Pool;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.LinkedList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.serialization.JSerializer;
import org.objenesis.strategy.StdInstantiatorStrategy;

/**
 * The Pekko {@code Serializer} for every Sluice message that crosses the network: Kryo with
 * registration required, bound in {@code reference.conf} to {@code java.lang.Record} and {@link
 * KryoMessage}.
 *
 * <p>Only classes listed in {@code sluice.serialization.kryo.classes} (plus a fixed set of JDK
 * collections, arrays, time types and actor references) can be written; anything else throws {@link
 * IllegalArgumentException} naming the class. Pekko then logs the error and drops that one message:
 * nothing unregistered is ever sent, and Java serialization stays off. Records use Kryo's {@code
 * RecordSerializer} (canonical constructor), so their invariants are re-checked on the receiving
 * node.
 *
 * <p>Kryo instances are not thread-safe; a pool holds one per concurrent caller.
 */
public final class KryoSerializer extends JSerializer {
  /** Pekko serializer id; ids 0..40 are reserved by Pekko. */
  public static final int IDENTIFIER = 7351;

  private final KryoSettings settings;
  private final ExtendedActorSystem system;
  private final Pool<Kryo> pool;

  public KryoSerializer(ExtendedActorSystem system) {
    this.system = system;
    this.settings =
        KryoSettings.fromConfig(system.settings().config(), system.dynamicAccess().classLoader());
    this.pool =
        new Pool<>(true, true, 64) {
          @Override
          protected Kryo create() {
            return newKryo();
          }
        };
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  @Override
  public boolean includeManifest() {
    // Kryo writes the registration id of the class itself.
    return false;
  }

  @Override
  public byte[] toBinary(Object o) {
    Kryo kryo = pool.obtain();
    try (Output out = new Output(256, settings.maxMessageBytes())) {
      kryo.writeClassAndObject(out, o);
      return out.toBytes();
    } finally {
      pool.free(kryo);
    }
  }

  @Override
  public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
    Kryo kryo = pool.obtain();
    try (Input in = new Input(bytes)) {
      return kryo.readClassAndObject(in);
    } finally {
      pool.free(kryo);
    }
  }

  private Kryo newKryo() {
    ActorRefAwareResolver resolver = new ActorRefAwareResolver();
    Kryo kryo = new Kryo(resolver, null);
    kryo.setRegistrationRequired(true);
    kryo.setReferences(false);
    kryo.setInstantiatorStrategy(new DefaultInstantiatorStrategy(new StdInstantiatorStrategy()));
    ImmutableCollectionsSerializers.addDefaultSerializers(kryo);

    // Fixed built-ins: sequential ids below FIRST_HASHED_ID, identical on every node of one build.
    for (Class<?> c :
        List.<Class<?>>of(
            byte[].class,
            int[].class,
            long[].class,
            float[].class,
            double[].class,
            boolean[].class,
            char[].class,
            short[].class,
            String[].class,
            Object[].class,
            ArrayList.class,
            LinkedList.class,
            HashMap.class,
            LinkedHashMap.class,
            TreeMap.class,
            HashSet.class,
            LinkedHashSet.class,
            TreeSet.class,
            Collections.emptyList().getClass(),
            Collections.emptyMap().getClass(),
            Collections.emptySet().getClass(),
            Collections.singletonList(0).getClass(),
            Optional.class,
            UUID.class,
            Instant.class,
            Duration.class,
            BigInteger.class,
            BigDecimal.class)) {
      kryo.register(c);
    }
    ImmutableCollectionsSerializers.registerSerializers(kryo);
    resolver.typedRefs = kryo.register(ActorRef.class, new ActorRefKryoSerializers.Typed(system));
    resolver.classicRefs =
        kryo.register(
            org.apache.pekko.actor.ActorRef.class, new ActorRefKryoSerializers.Classic(system));

    List<Class<?>> classes = settings.classes();
    for (int i = 0; i < classes.size(); i++) {
      kryo.register(classes.get(i), settings.ids().get(i));
    }
    return kryo;
  }

  /**
   * Maps every concrete actor-reference class (there are many, all internal to Pekko) to the one
   * registration of its interface, so a {@code replyTo} field needs no registration of its own.
   */
  private static final class ActorRefAwareResolver extends DefaultClassResolver {
    Registration typedRefs;
    Registration classicRefs;

    @Override
    @SuppressWarnings("rawtypes")
    public Registration getRegistration(Class type) {
      Registration r = super.getRegistration(type);
      if (r != null || typedRefs == null) {
        return r;
      }
      if (ActorRef.class.isAssignableFrom(type)) {
        return typedRefs;
      }
      if (org.apache.pekko.actor.ActorRef.class.isAssignableFrom(type)) {
        return classicRefs;
      }
      return null;
    }
  }
}
