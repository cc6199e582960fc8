import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { DerpMapError, buildDerpMap, readDerpMapFile } from '../../../src/derp/derp-map.js';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function writeMap(contents: unknown): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-derpmap-'));
  folders.push(folder);
  const file = path.join(folder, 'derpmap.json');
  fs.writeFileSync(file, typeof contents === 'string' ? contents : JSON.stringify(contents));
  return file;
}

const goodRegion = {
  RegionID: 901,
  RegionCode: 'office',
  RegionName: 'Office relay',
  Nodes: [{ Name: '901a', RegionID: 901, HostName: 'derp.office.example', IPv4: '192.0.2.10', IPv6: 'none', DERPPort: 443, STUNPort: 3478 }],
};

const embedded = { regionId: 900, regionCode: 'wonder', regionName: 'Wonder', hostName: '127.0.0.1', derpPort: 8443, stunPort: 3478, certName: 'sha256-raw:ab' };

describe('DERP map', () => {
  it('contains the embedded region with its bound ports and pin', () => {
    const map = buildDerpMap(embedded, undefined);
    expect(map).toEqual({
      Regions: {
        '900': {
          RegionID: 900,
          RegionCode: 'wonder',
          RegionName: 'Wonder',
          Nodes: [{ Name: '900a', RegionID: 900, HostName: '127.0.0.1', CertName: 'sha256-raw:ab', STUNPort: 3478, DERPPort: 8443 }],
        },
      },
    });
    expect(Object.isFrozen(map.Regions['900']?.Nodes[0])).toBe(true);
  });

  it('adds the regions of a map file', () => {
    const file = writeMap({ Regions: { '901': goodRegion }, HomeParams: { RegionScore: { '901': 2 } } });
    const map = buildDerpMap(embedded, readDerpMapFile(file), file);
    expect(Object.keys(map.Regions).sort()).toEqual(['900', '901']);
    expect(map.Regions['901']).toEqual(goodRegion);
    expect(map.HomeParams).toEqual({ RegionScore: { '901': 2 } });
  });

  it('serves only the file when the relay is off', () => {
    const file = writeMap({ Regions: { '901': goodRegion } });
    expect(Object.keys(buildDerpMap(undefined, readDerpMapFile(file), file).Regions)).toEqual(['901']);
  });

  it('rejects an empty map', () => {
    expect(() => buildDerpMap(undefined, { Regions: {} })).toThrow(/the DERP map has no region/);
  });

  it('rejects a file region with the embedded region ID', () => {
    const file = writeMap({ Regions: { '900': { ...goodRegion, RegionID: 900, Nodes: [{ ...goodRegion.Nodes[0], RegionID: 900 }] } } });
    expect(() => buildDerpMap(embedded, readDerpMapFile(file), file)).toThrow(/region 900 of DERP map file .* has the embedded relay's derp.region_id/);
  });

  it.each([
    ['invalid JSON', '{"Regions": ', /is not valid JSON/],
    ['a missing HostName', { Regions: { '901': { ...goodRegion, Nodes: [{ Name: 'x', RegionID: 901 }] } } }, /Regions\.901\.Nodes\.0\.HostName: /],
    ['a misspelt field', { Regions: { '901': { ...goodRegion, Nodes: [{ ...goodRegion.Nodes[0], Hostname: 'x' }] } } }, /Regions\.901\.Nodes\.0: unknown field Hostname/],
    ['a bad IPv4', { Regions: { '901': { ...goodRegion, Nodes: [{ ...goodRegion.Nodes[0], IPv4: 'derp.example' }] } } }, /Regions\.901\.Nodes\.0\.IPv4: expected an IP address or "none"/],
    ['a key that is not the region ID', { Regions: { '902': goodRegion } }, /Regions\.902: the key must be the region's RegionID 901/],
    ['a node of another region', { Regions: { '901': { ...goodRegion, Nodes: [{ ...goodRegion.Nodes[0], RegionID: 7 }] } } }, /Regions\.901\.Nodes\.0\.RegionID: 7 differs/],
    ['a region without nodes', { Regions: { '901': { ...goodRegion, Nodes: [] } } }, /Regions\.901\.Nodes: a region needs at least one node/],
  ])('names the file and field for %s', (_case, contents, message) => {
    const file = writeMap(contents);
    let error: unknown;
    try {
      readDerpMapFile(file);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DerpMapError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(message);
  });

  it('names a missing file', () => {
    expect(() => readDerpMapFile('/nonexistent/derpmap.json')).toThrow(/cannot read DERP map file \/nonexistent\/derpmap.json \(derp.extra_map_path\)/);
  });
});
