import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey } from 'jose';

/** Claims a test token may carry; anything left out gets a valid default. */
export interface TestClaims {
  sub: string;
  aud?: string;
  exp?: number | string;
  iss?: string;
}

/** A running test identity provider. */
export interface TestIssuer {
  issuer: string;
  /** Signs a JWT with the published key (or `key`, to forge one). */
  sign(claims: TestClaims, key?: CryptoKey): Promise<string>;
  close(): Promise<void>;
}

/** An OIDC issuer on 127.0.0.1 that serves its JWKS at `/.well-known/jwks.json`, as an IdP would. */
export async function startIssuer(defaultAudience: string): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    sign: (claims, key = privateKey) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setSubject(claims.sub)
        .setIssuedAt()
        .setIssuer(claims.iss ?? issuer)
        .setAudience(claims.aud ?? defaultAudience)
        .setExpirationTime(claims.exp ?? '5m')
        .sign(key),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
