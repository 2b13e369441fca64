import { AuthenticationError } from '../errors.js';
import type { Agent, AgentRegistry } from './agents.js';
import type { Human, HumanDirectory } from './humans.js';
import type { OidcVerifier } from './oidc.js';
import type { TokenService } from './tokens.js';

/** Who is calling, once authenticated. */
export type Principal =
  | { kind: 'agent'; id: string; agent: Agent; via: 'token' | 'oidc'; credentialId: string }
  | { kind: 'human'; id: string; human: Human; via: 'token' | 'oidc'; credentialId: string };

/** The actor string audit records use for a principal. */
export function actorOf(p: Principal): string {
  return `${p.kind}:${p.id}`;
}

/**
 * Turns a bearer credential into a principal: an `aos_…` API token, or a JWT from the configured OIDC issuer
 * whose subject is a known agent or human. Revoked agents and tokens fail here, on every request.
 */
export class Authenticator {
  constructor(
    private readonly deps: {
      tokens: TokenService;
      agents: AgentRegistry;
      humans: HumanDirectory;
      oidc?: OidcVerifier | undefined;
    },
  ) {}

  async authenticate(bearer: string | undefined): Promise<Principal> {
    if (!bearer) throw new AuthenticationError('missing bearer token');
    if (bearer.startsWith('aos_')) {
      const info = await this.deps.tokens.verify(bearer);
      return this.principal(info.subjectType, info.subjectId, 'token', info.id);
    }
    if (bearer.split('.').length === 3) {
      if (!this.deps.oidc) throw new AuthenticationError('JWT given but no OIDC issuer is configured');
      const { subject, claims } = await this.deps.oidc.verify(bearer);
      const jti = typeof claims.jti === 'string' ? claims.jti : 'jwt';
      const agent = await this.deps.agents.get(subject);
      if (agent) return this.principal('agent', subject, 'oidc', jti);
      return this.principal('human', subject, 'oidc', jti);
    }
    throw new AuthenticationError('malformed bearer token');
  }

  private async principal(
    kind: 'agent' | 'human',
    id: string,
    via: 'token' | 'oidc',
    credentialId: string,
  ): Promise<Principal> {
    if (kind === 'agent') {
      const agent = await this.deps.agents.get(id);
      if (!agent) throw new AuthenticationError(`unknown agent '${id}'`);
      if (agent.status === 'revoked') throw new AuthenticationError(`agent '${id}' is revoked`);
      return { kind, id, agent, via, credentialId };
    }
    const human = await this.deps.humans.get(id);
    if (!human) throw new AuthenticationError(`unknown subject '${id}'`);
    return { kind, id, human, via, credentialId };
  }
}
