/** Something that happened, for live streams (SSE), webhooks and metrics. Mirrors an audit record's type. */
export interface AosEvent {
  type: string;
  at: string;
  subject?: string | undefined;
  data: Record<string, unknown>;
}

/** A listener; exceptions it throws are swallowed so one bad listener cannot break the pipeline. */
export type EventListener = (event: AosEvent) => void;

/**
 * In-process publish/subscribe. The durable record is the audit log; events are the live view of it. A
 * multi-node fan-out (PostgreSQL LISTEN/NOTIFY) plugs in as another listener and publisher.
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private readonly forwarders = new Set<EventListener>();

  /**
   * `onError`: where a listener's or forwarder's failure is reported (the engine logs and counts it); it never
   * reaches the publisher.
   */
  constructor(private readonly onError: (err: unknown, event: AosEvent) => void = () => undefined) {}

  /** Publishes an event of this node: to local listeners and to forwarders (other nodes). */
  publish(type: string, data: Record<string, unknown>, subject?: string): void {
    const event: AosEvent = { type, at: new Date().toISOString(), subject, data };
    this.deliver(event);
    for (const f of this.forwarders) {
      try {
        f(event);
      } catch (err) {
        // Forwarding is best effort, but not silent.
        this.report(err, event);
      }
    }
  }

  /** Delivers an event to local listeners only (an event that came from another node). */
  deliver(event: AosEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        // A listener's failure is its own: reported, never the publisher's.
        this.report(err, event);
      }
    }
  }

  private report(err: unknown, event: AosEvent): void {
    try {
      this.onError(err, event);
    } catch {
      /* the reporter itself failed: nothing is left to tell */
    }
  }

  /** Adds a forwarder that carries this node's events to other nodes; answers the removal function. */
  forward(forwarder: EventListener): () => void {
    this.forwarders.add(forwarder);
    return () => this.forwarders.delete(forwarder);
  }

  /** Subscribes; answers the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
