import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { AuthenticationError } from '../errors.js';

/** How to trust an OpenID Connect / OAuth issuer's JWTs. */
export interface OidcOptions {
  issuer: string;
  /** The audience our tokens must name (this server's resource identifier). */
  audience: string;
  /** JWKS URL; defaults to `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Claim that holds our agent or human id; default `sub`. */
  subjectClaim?: string;
  /** Allowed signature algorithms; default RS256, ES256, EdDSA. */
  algorithms?: string[];
  /** Clock skew tolerance in seconds; default 30. */
  clockToleranceSec?: number;
}

/** A verified JWT: who it names and its claims. */
export interface VerifiedJwt {
  subject: string;
  claims: JWTPayload;
}

/**
 * Verifies bearer JWTs against an issuer's JWKS with `jose`: signature, issuer, audience, expiry and not-before.
 * Keys are fetched and cached by jose (refetched when an unknown `kid` appears).
 */
export class OidcVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly options: OidcOptions) {
    const uri = options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/.well-known/jwks.json`;
    this.jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  }

  /** Verifies a JWT; any failure is an {@link AuthenticationError} that says why without echoing the token. */
  async verify(jwt: string): Promise<VerifiedJwt> {
    try {
      const { payload } = await jwtVerify(jwt, this.jwks, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms ?? ['RS256', 'ES256', 'EdDSA'],
        clockTolerance: this.options.clockToleranceSec ?? 30,
        requiredClaims: ['exp'],
      });
      const claim = this.options.subjectClaim ?? 'sub';
      const subject = payload[claim];
      if (typeof subject !== 'string' || !subject)
        throw new AuthenticationError(`JWT has no '${claim}' claim`);
      return { subject, claims: payload };
    } catch (err) {
      if (err instanceof AuthenticationError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthenticationError('JWT has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        throw new AuthenticationError(`JWT claim '${err.claim}' is not acceptable (${err.reason})`);
      }
      if (err instanceof joseErrors.JOSEError) throw new AuthenticationError(`JWT rejected: ${err.code}`);
      throw new AuthenticationError('JWT rejected');
    }
  }
}
