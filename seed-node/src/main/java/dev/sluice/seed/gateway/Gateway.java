package dev.sluice.seed.gateway;

import com.typesafe.config.Config;
import dev.sluice.node.metrics.NodeMetrics;
import dev.sluice.seed.admission.AdmissionController;
import dev.sluice.seed.admission.AdmissionSettings;
import dev.sluice.seed.routing.Router;
import dev.sluice.seed.routing.WorkerDirectory;
import dev.sluice.seed.routing.WorkerPool;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;

/**
 * Wires a gateway node: worker pool fed by load reports, router, admission control and the HTTP
 * API. {@code SeedNodeMain} calls {@link #start}; tests call {@link #create} with their own {@link
 * WorkerDirectory} and feed the pool themselves.
 */
public final class Gateway {
  private final HttpApi api;
  private final AdmissionController admission;

  private Gateway(HttpApi api, AdmissionController admission) {
    this.api = api;
    this.admission = admission;
  }

  public HttpApi api() {
    return api;
  }

  public AdmissionController admission() {
    return admission;
  }

  /** Builds the gateway's parts without subscribing to the cluster or binding a port. */
  public static Gateway create(
      ActorSystem<?> system, Config config, GatewaySettings s, WorkerDirectory directory) {
    WorkerPool pool = new WorkerPool(s.staleAfter().toMillis());
    Router router = new Router(s.affinityBlockChars(), s.affinityBlocks(), s.affinityLoadBound());
    AdmissionController admission =
        new AdmissionController(AdmissionSettings.fromConfig(config), pool, router);
    GatewayMetrics metrics = new GatewayMetrics(NodeMetrics.get(system).metrics());
    HttpApi api =
        new HttpApi(system, new RequestSession.Deps(admission, directory, s, metrics), router);
    return new Gateway(api, admission);
  }

  /** The production gateway: sharded workers, load reports from the cluster, the port bound. */
  public static Gateway start(ActorSystem<?> system, Config config, GatewaySettings s) {
    Gateway g = create(system, config, s, WorkerDirectory.sharded(system));
    system.systemActorOf(
        WorkerLoadListener.create(g.admission.pool()), "gateway-worker-load", Props.empty());
    g.api.start();
    return g;
  }
}
