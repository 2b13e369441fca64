import { createContext, useContext, useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import type { AosClient, AosEvent } from '@autonomy-os/sdk';

/** How many recent events the console keeps in memory for the live views. */
const KEEP = 2000;

/** A received event with a local sequence number (a stable React key). */
export interface LiveEvent extends AosEvent {
  seq: number;
}

interface LiveValue {
  events: LiveEvent[];
  connected: boolean;
}

const LiveContext = createContext<LiveValue>({ events: [], connected: false });

/** Which cached queries an event makes stale: the views re-read the API rather than patching from events. */
function staleKeys(type: string): string[] {
  const head = type.split('.')[0];
  switch (head) {
    case 'action':
      return ['actions', 'receipt', 'budgets'];
    case 'approval':
    case 'escalation':
      return ['approvals', 'actions'];
    case 'agent':
      return ['agents'];
    case 'killswitch':
      return ['killswitches'];
    case 'run':
    case 'task':
      return ['runs'];
    default:
      return [];
  }
}

/**
 * Subscribes to `GET /v1/events` for the signed-in human, keeps the recent events, and marks the matching queries
 * stale so every page stays live. Reconnects with a growing delay when the stream drops.
 */
export function LiveEventsProvider(props: { client: AosClient; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [connected, setConnected] = useState(false);
  const seq = useRef(0);

  useEffect(() => {
    const abort = new AbortController();
    let delay = 500;
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          const stream = props.client.events({
            signal: abort.signal,
            onOpen: () => {
              setConnected(true);
              delay = 500;
            },
          });
          for await (const e of stream) {
            const live = { ...e, seq: ++seq.current };
            setEvents((prev) => [live, ...prev].slice(0, KEEP));
            for (const key of staleKeys(e.type)) void queryClient.invalidateQueries({ queryKey: [key] });
          }
        } catch {
          // Dropped or refused: try again after a while (the loop ends when the provider unmounts).
        }
        setConnected(false);
        if (abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    };
    void run();
    return () => abort.abort();
  }, [props.client, queryClient]);

  return <LiveContext.Provider value={{ events, connected }}>{props.children}</LiveContext.Provider>;
}

/** The recent live events, newest first, and whether the stream is connected. */
export function useLiveEvents(): LiveValue {
  return useContext(LiveContext);
}
