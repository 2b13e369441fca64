import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { AosApiError } from '@autonomy-os/sdk';
import { oidcSignInRefused, useSession } from '../session/session.js';

/** What `GET /v1/auth/methods` says about OIDC: the button's name and where it starts. */
interface OidcMethod {
  displayName: string;
  startUrl: string;
}

/** Asks the server (no token needed) whether OIDC sign-in is configured. */
function useOidcMethod(): OidcMethod | null {
  const [oidc, setOidc] = useState<OidcMethod | null>(null);
  useEffect(() => {
    let live = true;
    fetch('/v1/auth/methods')
      .then((r) => (r.ok ? (r.json() as Promise<{ oidc: OidcMethod | null }>) : { oidc: null }))
      .then((m) => live && setOidc(m.oidc))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return oidc;
}

/** What a failed sign-in tells the person, without saying whether the id exists. */
function signInError(err: unknown, method: 'password' | 'token'): string {
  if (err instanceof AosApiError && err.status === 401)
    return method === 'password'
      ? 'Unknown human or wrong password.'
      : 'That API token is not valid: it is unknown, expired or revoked.';
  if (err instanceof AosApiError && err.status === 429)
    return 'Too many failed sign-ins from here. Wait a minute and try again.';
  return err instanceof Error ? err.message : String(err);
}

/**
 * Sign-in for humans: with an id and password (set with `aos humans add --password`), which gets a short-lived
 * session token, with the configured OpenID provider (`oidc.signIn`), or with a human's API token
 * (`aos tokens issue --human <id>`). Agent tokens are refused.
 */
export function SignInPage() {
  const { signIn, signInWithPassword } = useSession();
  const [token, setToken] = useState('');
  const [human, setHuman] = useState('');
  const [password, setPassword] = useState('');
  const oidc = useOidcMethod();
  const [error, setError] = useState<string | null>(
    oidcSignInRefused() ? 'Single sign-on was refused: ask an admin whether you are registered.' : null,
  );
  const [busy, setBusy] = useState(false);

  const run = async (e: FormEvent, method: 'password' | 'token', attempt: () => Promise<void>) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await attempt();
    } catch (err) {
      setError(signInError(err, method));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <h1 id="sign-in-title">Autonomy OS</h1>
      {oidc ? (
        <p>
          {/* A plain navigation: the server redirects to the provider and back. */}
          <a className="button" href={oidc.startUrl}>
            Sign in with {oidc.displayName}
          </a>
        </p>
      ) : null}
      <form
        onSubmit={(e) => void run(e, 'password', () => signInWithPassword(human, password))}
        aria-labelledby="password-sign-in"
      >
        <h2 id="password-sign-in">Sign in with your password</h2>
        <label htmlFor="human">Your id</label>
        <input
          id="human"
          name="username"
          autoComplete="username"
          value={human}
          onChange={(e) => setHuman(e.target.value)}
          required
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        {/* Not "Sign in": the token form's button keeps that name, which scripts and tests select by. */}
        <button type="submit" disabled={busy || !human.trim() || !password}>
          {busy ? 'Checking…' : 'Continue with password'}
        </button>
      </form>
      <form onSubmit={(e) => void run(e, 'token', () => signIn(token))} aria-labelledby="token-sign-in">
        <h2 id="token-sign-in">Or with an API token</h2>
        <p>
          Ask an admin for one: <code>aos tokens issue --human YOUR-ID</code>.
        </p>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
        />
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </main>
  );
}
