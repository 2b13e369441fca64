import { createContext, useCallback, useContext, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { AosApiError, AosClient } from '@autonomy-os/sdk';
import type { WhoAmI } from '@autonomy-os/sdk';

const STORAGE_KEY = 'aos.console.session';

/** A signed-in human: who, with which groups, and the client that carries their token. */
export interface Session {
  human: Extract<WhoAmI, { kind: 'human' }>;
  client: AosClient;
}

/** What the UI offers follows the groups; the server enforces the same rules and refuses anything else. */
export interface Abilities {
  isAdmin: boolean;
  isAuditor: boolean;
  isApprover: boolean;
  /** The label shown next to the name. */
  label: 'admin' | 'auditor' | 'approver' | 'viewer';
  /** Whether this human is in the group that decides an approval now. */
  canDecide(group: string): boolean;
}

/** The abilities of a human with these groups. */
export function abilitiesOf(groups: readonly string[]): Abilities {
  const isAdmin = groups.includes('admins');
  const isAuditor = groups.includes('auditors');
  const isApprover = groups.some((g) => g === 'approvers' || g.startsWith('approvers:'));
  return {
    isAdmin,
    isAuditor,
    isApprover,
    label: isAdmin ? 'admin' : isAuditor ? 'auditor' : isApprover ? 'approver' : 'viewer',
    canDecide: (group) => groups.includes(group),
  };
}

interface SessionContextValue {
  session: Session | null;
  abilities: Abilities;
  signIn(token: string): Promise<void>;
  /** Signs in with a human id and password; the session token it gets is kept like a pasted one. */
  signInWithPassword(human: string, password: string): Promise<void>;
  signOut(): void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/** The server's origin: the console is served by the server it talks to. */
function apiUrl(): string {
  return window.location.origin;
}

/** Thrown by sign-in when the token is good but is not a human's. */
export class NotAHumanError extends Error {
  constructor() {
    super('This is an agent token. The console is for people: sign in with a human token.');
    this.name = new.target.name;
  }
}

async function resolve(token: string): Promise<Session> {
  const client = new AosClient({ url: apiUrl(), token });
  const me = await client.whoami();
  if (me.kind !== 'human') throw new NotAHumanError();
  return { human: me, client };
}

/** Holds the session; the token lives in sessionStorage only (gone when the tab closes). */
export function SessionProvider(props: { initial: Session | null; children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(props.initial);
  const signIn = useCallback(async (token: string) => {
    const s = await resolve(token.trim());
    sessionStorage.setItem(STORAGE_KEY, token.trim());
    setSession(s);
  }, []);
  const signInWithPassword = useCallback(async (human: string, password: string) => {
    const { token } = await AosClient.signIn({ url: apiUrl(), human: human.trim(), password });
    const s = await resolve(token);
    sessionStorage.setItem(STORAGE_KEY, token);
    setSession(s);
  }, []);
  const signOut = useCallback(() => {
    // A password sign-in's session token is revoked on the server too; a pasted API token is not (403, ignored).
    session?.client.signOut().catch(() => undefined);
    sessionStorage.removeItem(STORAGE_KEY);
    setSession(null);
  }, [session]);
  const value = useMemo(
    () => ({
      session,
      abilities: abilitiesOf(session?.human.groups ?? []),
      signIn,
      signInWithPassword,
      signOut,
    }),
    [session, signIn, signInWithPassword, signOut],
  );
  return <SessionContext.Provider value={value}>{props.children}</SessionContext.Provider>;
}

let oidcRefused = false;

/** Whether the OIDC sign-in that brought this tab back was refused (the server says no more than that). */
export function oidcSignInRefused(): boolean {
  return oidcRefused;
}

/**
 * Takes the OIDC callback's hand-over from the URL fragment (`#oidc_session=…` or `#oidc_error=…`), which the
 * browser never sends to a server, and removes it from the address bar and history at once.
 */
function takeOidcHandoff(): void {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('oidc_session');
  if (!token && !params.has('oidc_error')) return;
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  if (token) sessionStorage.setItem(STORAGE_KEY, token);
  else oidcRefused = true;
}

/** Restores the session of this tab, if its token still answers as a human. */
export async function restoreSession(): Promise<Session | null> {
  takeOidcHandoff();
  const token = sessionStorage.getItem(STORAGE_KEY);
  if (!token) return null;
  try {
    return await resolve(token);
  } catch (err) {
    if (err instanceof AosApiError || err instanceof NotAHumanError) sessionStorage.removeItem(STORAGE_KEY);
    return null;
  }
}

export function useSession(): SessionContextValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

/** The signed-in session; only for pages behind the sign-in gate. */
export function useSignedIn(): Session & { abilities: Abilities } {
  const { session, abilities } = useSession();
  if (!session) throw new Error('not signed in');
  return { ...session, abilities };
}
