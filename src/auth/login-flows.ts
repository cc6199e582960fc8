/**
 * Sign-ins in progress, between the redirect to the provider and the callback. Each is kept
 * here under its random `state` and is taken out at the callback, so a callback URL works
 * once: a replayed one finds nothing. The browser also carries the state in a signed cookie,
 * which ties the callback to the browser that started the sign-in.
 */
import * as client from 'openid-client';

export interface LoginFlow {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** A path on this coordinator to return to after sign-in, such as `/register/<id>`. */
  returnTo: string;
  expiresAt: number;
}

export class LoginFlows {
  private readonly flows = new Map<string, LoginFlow>();
  private readonly now: () => number;

  constructor(
    private readonly options: {
      lifetimeMs: number;
      /** Flows kept at once; the oldest are dropped beyond this, so a flood of /login requests cannot grow memory. */
      maxFlows: number;
      now?: () => number;
    },
  ) {
    this.now = options.now ?? Date.now;
  }

  get lifetimeMs(): number {
    return this.options.lifetimeMs;
  }

  start(input: { returnTo: string }): LoginFlow {
    this.dropExpired();
    const flow: LoginFlow = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      codeVerifier: client.randomPKCECodeVerifier(),
      returnTo: input.returnTo,
      expiresAt: this.now() + this.options.lifetimeMs,
    };
    this.flows.set(flow.state, flow);
    while (this.flows.size > this.options.maxFlows) this.flows.delete(this.flows.keys().next().value as string);
    return flow;
  }

  /** Removes and returns the flow for `state`; undefined when it is unknown, already used or expired. */
  take(state: string): LoginFlow | undefined {
    const flow = this.flows.get(state);
    if (flow === undefined) return undefined;
    this.flows.delete(state);
    return flow.expiresAt > this.now() ? flow : undefined;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [state, flow] of this.flows) if (flow.expiresAt <= now) this.flows.delete(state);
  }
}
