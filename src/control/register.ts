/**
 * `POST /machine/register`: log a node in with an auth key or interactively, renew or rotate
 * its node key, or log it out.
 *
 * Outcomes a person should see travel in the response's `Error` field with status 200, because
 * `tailscale up` prints that field ("backend error: …"). A non-200 status only shows up in the
 * daemon's log.
 */
import { NodePublic } from '../../protocol/key.js';
import { isGoZeroTime } from '../../protocol/tailcfg/node.js';
import type { RegisterResponse } from '../../protocol/tailcfg/register.js';
import { LogLimiter } from '../log-limiter.js';
import { cleanCapVersion, cleanHostinfo, logDroppedReport } from '../tailnet/client-report.js';
import { type RegisterNodeInput, type Tailnet, TailnetError } from '../tailnet/tailnet.js';
import type { Node } from '../tailnet/types.js';
import { parseField, readJsonObject } from './json-body.js';
import { type NoiseRouter, respondJson } from './noise-routes.js';
import { type PendingLogin, PendingLoginLimitError, type PendingLogins } from './pending-logins.js';

export interface RegisterDependencies {
  tailnet: Tailnet;
  pendingLogins: PendingLogins;
}

const WHAT = 'register request';

/** Log lines per minute about logins rejected by the caps of PendingLogins; the rest are counted. */
const LIMIT_LOGS_PER_MINUTE = 10;

export function registerRegisterRoute(router: NoiseRouter, deps: RegisterDependencies): void {
  const { tailnet, pendingLogins } = deps;
  const limitLogs = new LogLimiter(LIMIT_LOGS_PER_MINUTE, 60_000);

  router.add('POST', '/machine/register', async (stream, context) => {
    const request = await readJsonObject(stream, WHAT, context.bodyTimeoutMs);
    const nodeKey = parseField(WHAT, 'NodeKey', () => NodePublic.parse(String(request.NodeKey ?? '')));
    const oldNodeKey = parseField(WHAT, 'OldNodeKey', () => NodePublic.parseOptional(request.OldNodeKey as string | undefined));
    const expiryText = typeof request.Expiry === 'string' ? request.Expiry : undefined;
    const expiry = isGoZeroTime(expiryText) ? undefined : new Date(expiryText!);
    if (expiry !== undefined && Number.isNaN(expiry.getTime())) {
      respondJson(stream, 400, { Error: `${WHAT}: Expiry: invalid time ${JSON.stringify(expiryText)}` });
      return;
    }
    const auth = typeof request.Auth === 'object' && request.Auth !== null ? (request.Auth as Record<string, unknown>) : {};
    const authKey = typeof auth.AuthKey === 'string' && auth.AuthKey !== '' ? auth.AuthKey : undefined;
    const followup = typeof request.Followup === 'string' && request.Followup !== '' ? request.Followup : undefined;
    const log = context.log.child({ nodeKey: nodeKey.short() });
    const hostinfo = cleanHostinfo(request.Hostinfo);
    logDroppedReport(log, WHAT, hostinfo);
    const input: RegisterNodeInput = {
      machineKey: context.machineKey,
      nodeKey,
      hostinfo: hostinfo.hostinfo,
      ephemeral: request.Ephemeral === true,
      capVersion: cleanCapVersion(request.Version) ?? context.protocolVersion,
    };

    const existing = tailnet.findNodeByNodeKey(nodeKey);
    if (existing !== undefined && !existing.machineKey.equals(context.machineKey)) {
      log.warn({ nodeId: existing.id }, 'register request for a node key owned by another machine');
      respondJson(stream, 200, { Error: 'this node key is registered to another machine' } satisfies RegisterResponse);
      return;
    }

    // Logout: an expiry in the past.
    if (expiry !== undefined && expiry.getTime() <= Date.now()) {
      if (existing !== undefined) tailnet.logout(existing);
      log.info({ nodeId: existing?.id }, 'node logged out');
      respondJson(stream, 200, {} satisfies RegisterResponse);
      return;
    }

    // A known, valid node key from its own machine: a restart or a renewed login.
    if (existing !== undefined && authKey === undefined && followup === undefined) {
      if (tailnet.isExpired(existing)) {
        log.info({ nodeId: existing.id }, 'node key expired; the client must log in again');
        respondJson(stream, 200, { NodeKeyExpired: true } satisfies RegisterResponse);
        return;
      }
      respondJson(stream, 200, success(tailnet, existing));
      return;
    }

    // Key rotation: the previous key belongs to this machine and is still valid.
    if (existing === undefined && oldNodeKey !== undefined && authKey === undefined && followup === undefined) {
      const previous = tailnet.findNodeByNodeKey(oldNodeKey);
      if (previous !== undefined && previous.machineKey.equals(context.machineKey) && !tailnet.isExpired(previous)) {
        respondJson(stream, 200, success(tailnet, tailnet.rotateNodeKey(previous, nodeKey)));
        return;
      }
    }

    if (authKey !== undefined) {
      try {
        const key = tailnet.checkPreAuthKey(authKey);
        const node = tailnet.registerNode(input, key.userId, key);
        respondJson(stream, 200, success(tailnet, node));
      } catch (error) {
        if (!(error instanceof TailnetError)) throw error;
        log.info({ reason: error.message }, 'auth key registration rejected');
        respondJson(stream, 200, { Error: error.message } satisfies RegisterResponse);
      }
      return;
    }

    // Interactive login: hand out an AuthURL, then hold the follow-up until it is approved.
    const pending = followup === undefined ? undefined : pendingLogins.find(followup);
    if (pending === undefined || !pending.input.machineKey.equals(context.machineKey)) {
      let login: PendingLogin;
      try {
        login = pendingLogins.start(input, context.remoteAddress);
      } catch (error) {
        if (!(error instanceof PendingLoginLimitError)) throw error;
        const suppressed = limitLogs.take();
        if (suppressed !== undefined) {
          log.warn({ limit: error.limit, pendingLogins: pendingLogins.count, suppressedSinceLastLog: suppressed }, 'interactive login rejected: too many pending logins');
        }
        respondJson(stream, 200, { Error: error.message } satisfies RegisterResponse);
        return;
      }
      log.info({ authUrl: login.authUrl, hostname: input.hostinfo.Hostname }, 'interactive login started');
      respondJson(stream, 200, { AuthURL: login.authUrl } satisfies RegisterResponse);
      return;
    }

    pending.input = input;
    const aborted = new AbortController();
    stream.once('close', () => aborted.abort());
    if (stream.closed) aborted.abort();
    const outcome = await pendingLogins.wait(pending, aborted.signal);
    if ('error' in outcome) {
      if (!stream.closed) respondJson(stream, 200, { Error: outcome.error } satisfies RegisterResponse);
      return;
    }
    const node = tailnet.registerNode(pending.input, outcome.userId);
    pendingLogins.complete(pending);
    log.info({ nodeId: node.id }, 'interactive login approved');
    respondJson(stream, 200, success(tailnet, node));
  });
}

function success(tailnet: Tailnet, node: Node): RegisterResponse {
  const user = tailnet.users.get(node.userId);
  const loginName = user === undefined ? '' : user.email || user.name;
  const displayName = user?.displayName || user?.name || '';
  return {
    User: { ID: node.userId, LoginName: loginName, DisplayName: displayName },
    Login: { ID: node.userId, LoginName: loginName, DisplayName: displayName },
    MachineAuthorized: true,
  };
}
