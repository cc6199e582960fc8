/**
 * `POST /machine/map`: the netmap poll. A streaming request gets the full map and then every
 * change; a lite update (Stream false, OmitPeers true) stores endpoints and host information
 * and ends at once, without touching the node's stream.
 */
import { DiscoPublic, NodePublic } from '../../protocol/key.js';
import { LogLimiter } from '../log-limiter.js';
import type { Netmap } from '../netmap/netmap.js';
import { cleanCapVersion, cleanEndpoints, cleanHostinfo, logDroppedReport } from '../tailnet/client-report.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import { parseField, readJsonObject } from './json-body.js';
import type { MapSessions } from './map-sessions.js';
import { type NoiseRouter, respond } from './noise-routes.js';

export interface MapDependencies {
  tailnet: Tailnet;
  netmap: Netmap;
  sessions: MapSessions;
}

const WHAT = 'map request';

/** Log lines per minute about map requests for unregistered node keys; the rest are counted. */
const UNKNOWN_KEY_LOGS_PER_MINUTE = 10;

export function registerMapRoute(router: NoiseRouter, deps: MapDependencies): void {
  const { tailnet, netmap, sessions } = deps;
  const unknownKeyLogs = new LogLimiter(UNKNOWN_KEY_LOGS_PER_MINUTE, 60_000);

  router.add('POST', '/machine/map', async (stream, context) => {
    const request = await readJsonObject(stream, WHAT, context.bodyTimeoutMs);
    const nodeKey = parseField(WHAT, 'NodeKey', () => NodePublic.parse(String(request.NodeKey ?? '')));
    const discoKey = parseField(WHAT, 'DiscoKey', () => DiscoPublic.parseOptional(request.DiscoKey as string | undefined));
    const log = context.log.child({ nodeKey: nodeKey.short() });

    if (request.Compress !== 'zstd') {
      // TODO: serve uncompressed JSON to clients that do not ask for zstd; 1.92 always does.
      respond(stream, 400, `${WHAT}: Compress must be "zstd", got ${JSON.stringify(request.Compress ?? null)}\n`);
      return;
    }

    const node = tailnet.findNodeByNodeKey(nodeKey);
    if (node === undefined) {
      // A client whose node was deleted may retry this many times.
      const suppressed = unknownKeyLogs.take();
      if (suppressed !== undefined) log.debug({ suppressedSinceLastLog: suppressed }, 'map request for an unregistered node key');
      respond(stream, 401, 'node key not registered; log in again\n');
      return;
    }
    if (!node.machineKey.equals(context.machineKey)) {
      log.warn({ nodeId: node.id }, 'map request for a node key owned by another machine');
      respond(stream, 403, 'node key belongs to another machine\n');
      return;
    }

    const report: Parameters<Tailnet['updateFromMapRequest']>[1] = {
      capVersion: cleanCapVersion(request.Version) ?? context.protocolVersion,
    };
    if (discoKey !== undefined) report.discoKey = discoKey;
    const endpoints = cleanEndpoints(request.Endpoints);
    if (endpoints !== undefined) report.endpoints = endpoints.endpoints;
    const hostinfo = cleanHostinfo(request.Hostinfo);
    if (typeof request.Hostinfo === 'object' && request.Hostinfo !== null && !Array.isArray(request.Hostinfo)) report.hostinfo = hostinfo.hostinfo;
    logDroppedReport(log, WHAT, hostinfo, endpoints);
    tailnet.updateFromMapRequest(node, report);

    if (request.Stream !== true) {
      stream.end(request.OmitPeers === true ? undefined : netmap.fullMapMessage(node));
      return;
    }

    stream.respond(200, { 'content-type': 'application/octet-stream' });
    sessions.open(node, stream);
    log.debug({ nodeId: node.id }, 'map stream opened');
  });
}
