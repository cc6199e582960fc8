import { describe, expect, it } from 'vitest';

import { goHuffmanStrings, goRequestBlocks } from './hpack-go-vectors.js';
import { DEFAULT_HEADER_TABLE_SIZE, HpackDecoder, HpackError, STATIC_TABLE, encodeHeaders } from './hpack.js';

type Field = [string, string];

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** A header list limit that none of the tests reach unless they mean to. */
const NO_LIMIT = 1 << 24;

// Encodes an integer with an N-bit prefix (RFC 7541 section 5.1) and flags in the
// bits above the prefix. Written separately from hpack.ts so that tests do not
// check the encoder against itself.
function encodeInteger(value: number, prefixBits: number, flags = 0): number[] {
  const prefixMax = 2 ** prefixBits - 1;
  if (value < prefixMax) {
    return [flags | value];
  }
  const out = [flags | prefixMax];
  let rest = value - prefixMax;
  while (rest >= 128) {
    out.push(128 + (rest % 128));
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function rawString(text: string): number[] {
  return [...encodeInteger(text.length, 7), ...Buffer.from(text, 'latin1')];
}

// Literal header field with a new name: 0x40 with incremental indexing, 0x00
// without indexing, 0x10 never indexed.
function literalField(flags: 0x40 | 0x00 | 0x10, name: string, value: string): number[] {
  return [flags, ...rawString(name), ...rawString(value)];
}

function block(...parts: Array<number | ArrayLike<number>>): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => (typeof part === 'number' ? [part] : Array.from(part))));
}

const fieldSize = ([name, value]: readonly [string, string]): number => name.length + value.length + 32;

// Reads the first `count` dynamic table entries, newest first, by decoding
// indexed fields 62, 63, ... Indexed fields do not change the table.
function dynamicEntries(decoder: HpackDecoder, count: number): Field[] {
  const indexes = Array.from({ length: count }, (_, i) => encodeInteger(STATIC_TABLE.length + 1 + i, 7, 0x80));
  return decoder.decode(block(...indexes), NO_LIMIT);
}

// Checks the dynamic table against an RFC example: the entries newest first and the table size.
function expectTable(decoder: HpackDecoder, entries: Field[], size: number): void {
  expect(dynamicEntries(decoder, entries.length)).toEqual(entries);
  expect(decoder.tableSize).toBe(size);
  expect(entries.reduce((sum, entry) => sum + fieldSize(entry), 0)).toBe(size);
}

// The request lists of RFC 7541 C.3 and C.4, which differ only in Huffman coding.
const exampleRequests: Array<{ fields: Field[]; table: Field[]; tableSize: number }> = [
  {
    fields: [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ],
    table: [[':authority', 'www.example.com']],
    tableSize: 57,
  },
  {
    fields: [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ],
    table: [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    tableSize: 110,
  },
  {
    fields: [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ],
    table: [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    tableSize: 164,
  },
];

const c3RequestBlocks = [
  '828684410f7777772e6578616d706c652e636f6d',
  '828684be58086e6f2d6361636865',
  '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
];

const c4RequestBlocks = [
  '828684418cf1e3c2e5f23a6ba0ab90f4ff',
  '828684be5886a8eb10649cbf',
  '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
];

// The response lists of RFC 7541 C.5 and C.6, decoded with a 256-octet table.
const date1: Field = ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'];
const date2: Field = ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'];
const location: Field = ['location', 'https://www.example.com'];
const privateCache: Field = ['cache-control', 'private'];
const setCookie: Field = ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'];

const exampleResponses: Array<{ fields: Field[]; table: Field[]; tableSize: number }> = [
  {
    fields: [[':status', '302'], privateCache, date1, location],
    table: [location, date1, privateCache, [':status', '302']],
    tableSize: 222,
  },
  {
    fields: [[':status', '307'], privateCache, date1, location],
    table: [[':status', '307'], location, date1, privateCache],
    tableSize: 222,
  },
  {
    fields: [[':status', '200'], privateCache, date2, location, ['content-encoding', 'gzip'], setCookie],
    table: [setCookie, ['content-encoding', 'gzip'], date2],
    tableSize: 215,
  },
];

const c5ResponseBlocks = [
  '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
  '4803333037c1c0bf',
  '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
];

const c6ResponseBlocks = [
  '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
  '4883640effc1c0bf',
  '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
];

describe('STATIC_TABLE', () => {
  it('has the 61 Appendix A entries', () => {
    expect(STATIC_TABLE).toHaveLength(61);
    expect(STATIC_TABLE[0]).toEqual([':authority', '']);
    expect(STATIC_TABLE[7]).toEqual([':status', '200']);
    expect(STATIC_TABLE[15]).toEqual(['accept-encoding', 'gzip, deflate']);
    expect(STATIC_TABLE[60]).toEqual(['www-authenticate', '']);
  });
});

describe('HpackDecoder RFC 7541 examples', () => {
  it('decodes C.2.1, literal with indexing', () => {
    const decoder = new HpackDecoder();
    const fields = decoder.decode(hex('400a637573746f6d2d6b65790d637573746f6d2d686561646572'), NO_LIMIT);
    expect(fields).toEqual([['custom-key', 'custom-header']]);
    expectTable(decoder, [['custom-key', 'custom-header']], 55);
  });

  it('decodes C.2.2, literal without indexing', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex('040c2f73616d706c652f70617468'), NO_LIMIT)).toEqual([[':path', '/sample/path']]);
    expect(decoder.tableSize).toBe(0);
  });

  it('decodes C.2.3, literal never indexed', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex('100870617373776f726406736563726574'), NO_LIMIT)).toEqual([['password', 'secret']]);
    expect(decoder.tableSize).toBe(0);
  });

  it('decodes C.2.4, indexed field', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex('82'), NO_LIMIT)).toEqual([[':method', 'GET']]);
    expect(decoder.tableSize).toBe(0);
  });

  for (const [section, blocks] of [
    ['C.3', c3RequestBlocks],
    ['C.4', c4RequestBlocks],
  ] as const) {
    it(`decodes ${section} requests`, () => {
      const decoder = new HpackDecoder();
      for (const [i, request] of exampleRequests.entries()) {
        expect(decoder.decode(hex(blocks[i] ?? ''), NO_LIMIT), `${section}.${i + 1}`).toEqual(request.fields);
        expectTable(decoder, request.table, request.tableSize);
      }
    });
  }

  for (const [section, blocks] of [
    ['C.5', c5ResponseBlocks],
    ['C.6', c6ResponseBlocks],
  ] as const) {
    it(`decodes ${section} responses with eviction`, () => {
      const decoder = new HpackDecoder(256);
      for (const [i, response] of exampleResponses.entries()) {
        expect(decoder.decode(hex(blocks[i] ?? ''), NO_LIMIT), `${section}.${i + 1}`).toEqual(response.fields);
        expectTable(decoder, response.table, response.tableSize);
      }
    });
  }
});

describe('HpackDecoder Go vectors', () => {
  // Fields that Go's encoder adds to the dynamic table: all but exact static
  // matches and the Sensitive authorization field.
  function indexedSize(fields: Field[]): number {
    return fields
      .filter(([name]) => name !== 'authorization')
      .filter(([name, value]) => !STATIC_TABLE.some(([n, v]) => n === name && v === value))
      .reduce((sum, field) => sum + fieldSize(field), 0);
  }

  it('decodes the control request sequence', () => {
    const decoder = new HpackDecoder();
    for (const vector of goRequestBlocks) {
      if (vector.settingsTableSize !== undefined) {
        decoder.setMaxTableSize(vector.settingsTableSize);
      }
      expect(decoder.decode(hex(vector.hex), NO_LIMIT), vector.note).toEqual(vector.fields);
    }
  });

  it('tracks table size through updates', () => {
    const decoder = new HpackDecoder();
    const sizes = goRequestBlocks.map((vector) => {
      decoder.decode(hex(vector.hex), NO_LIMIT);
      return decoder.tableSize;
    });
    const first = goRequestBlocks[0]?.fields ?? [];
    const last = goRequestBlocks.at(-1)?.fields ?? [];
    expect(sizes[0]).toBe(indexedSize(first));
    // The repeated poll adds nothing, and the block after the size update to 0 leaves the table empty.
    expect(sizes[2]).toBe(sizes[1]);
    expect(sizes.at(-2)).toBe(0);
    expect(sizes.at(-1)).toBe(indexedSize(last));
  });

  it('covers size update and never-indexed', () => {
    // The block after SetMaxDynamicTableSize(0) opens with a size update to 0
    // (001 00000), and the Sensitive field uses 0001xxxx with name index 23.
    const sizeZero = goRequestBlocks.find((vector) => vector.settingsTableSize === 0);
    expect(sizeZero?.hex.startsWith('20')).toBe(true);
    const sensitive = goRequestBlocks.find((vector) => vector.fields.some(([name]) => name === 'authorization'));
    expect(sensitive?.hex).toContain('1f08');
  });

  it('decodes Huffman values of all octets', () => {
    const decoder = new HpackDecoder();
    for (const vector of goHuffmanStrings) {
      const encoded = [...hex(vector.huffmanHex)];
      const fields = decoder.decode(
        block(0x40, rawString('x-octets'), encodeInteger(encoded.length, 7, 0x80), encoded),
        NO_LIMIT,
      );
      expect(fields, vector.note).toEqual([['x-octets', Buffer.from(vector.plainHex, 'hex').toString('latin1')]]);
    }
  });
});

describe('HpackDecoder', () => {
  it('decodes an empty block', () => {
    expect(new HpackDecoder().decode(new Uint8Array(0), NO_LIMIT)).toEqual([]);
  });

  it('decodes a view into a buffer', () => {
    const backing = new Uint8Array([0xff, 0xff, 0x82, 0x84, 0xff]);
    const view = new Uint8Array(backing.buffer, 2, 2);
    expect(new HpackDecoder().decode(view, NO_LIMIT)).toEqual([
      [':method', 'GET'],
      [':path', '/'],
    ]);
  });

  it('keeps octets above 0x7f as latin1', () => {
    const value = String.fromCharCode(0x80, 0xe9, 0xff, 0x00);
    const fields = new HpackDecoder().decode(block(literalField(0x00, 'x-raw', value)), NO_LIMIT);
    expect(fields).toEqual([['x-raw', value]]);
  });

  it('decodes new names in literals', () => {
    const decoder = new HpackDecoder();
    const fields = decoder.decode(
      block(literalField(0x40, 'a', '1'), literalField(0x00, 'b', '2'), literalField(0x10, 'c', '3')),
      NO_LIMIT,
    );
    expect(fields).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
    expectTable(decoder, [['a', '1']], 34);
  });

  it('decodes multi-byte indexes', () => {
    const decoder = new HpackDecoder();
    const inserts = Array.from({ length: 100 }, (_, i) => literalField(0x40, 'x-n', String(i)));
    decoder.decode(block(...inserts), NO_LIMIT);
    // Index 161 is dynamic entry 100, the oldest: 7-bit prefix 127, then 34.
    const oldest = decoder.decode(block(encodeInteger(161, 7, 0x80)), NO_LIMIT);
    expect(toHex(block(encodeInteger(161, 7, 0x80)))).toBe('ff22');
    expect(oldest).toEqual([['x-n', '0']]);
    // A literal whose name is dynamic entry 1, with the 4-bit prefix of the never-indexed form.
    expect(decoder.decode(block(encodeInteger(62, 4, 0x10), rawString('v')), NO_LIMIT)).toEqual([['x-n', 'v']]);
  });

  it('accepts 5 continuation bytes', () => {
    const decoder = new HpackDecoder();
    // Size update to 31 with redundant zero groups: 0x3f, then 0 in five bytes.
    decoder.decode(block(0x3f, 0x80, 0x80, 0x80, 0x80, 0x00, literalField(0x40, 'x', 'y')), NO_LIMIT);
    expect(decoder.tableSize).toBe(0);
  });

  it('evicts oldest entries first', () => {
    const decoder = new HpackDecoder(100);
    decoder.decode(block(literalField(0x40, 'a', 'x'.repeat(30)), literalField(0x40, 'b', 'y'.repeat(30))), NO_LIMIT);
    expectTable(decoder, [['b', 'y'.repeat(30)]], 63);
  });

  it('empties table for oversized entry', () => {
    const decoder = new HpackDecoder(100);
    const big = 'z'.repeat(100);
    const fields = decoder.decode(block(literalField(0x40, 'a', '1'), literalField(0x40, 'b', big)), NO_LIMIT);
    expect(fields).toEqual([
      ['a', '1'],
      ['b', big],
    ]);
    expect(decoder.tableSize).toBe(0);
  });

  it('applies size updates at start', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex(c3RequestBlocks[0] ?? ''), NO_LIMIT);
    expect(decoder.tableSize).toBe(57);
    // Two updates in a row are allowed (RFC 7541 section 4.2): 0 evicts everything, then 4096.
    const fields = decoder.decode(block(0x20, encodeInteger(4096, 5, 0x20), literalField(0x40, 'a', 'b')), NO_LIMIT);
    expect(fields).toEqual([['a', 'b']]);
    expectTable(decoder, [['a', 'b']], 34);
  });

  it('evicts when the limit drops', () => {
    const decoder = new HpackDecoder();
    for (const blockHex of c3RequestBlocks) {
      decoder.decode(hex(blockHex), NO_LIMIT);
    }
    decoder.setMaxTableSize(120);
    expectTable(
      decoder,
      [
        ['custom-key', 'custom-value'],
        ['cache-control', 'no-cache'],
      ],
      107,
    );
  });

  it('grows only after a size update', () => {
    const decoder = new HpackDecoder();
    decoder.setMaxTableSize(0);
    decoder.setMaxTableSize(DEFAULT_HEADER_TABLE_SIZE);
    decoder.decode(block(literalField(0x40, 'a', 'b')), NO_LIMIT);
    expect(decoder.tableSize).toBe(0);
    decoder.decode(block(encodeInteger(DEFAULT_HEADER_TABLE_SIZE, 5, 0x20), literalField(0x40, 'a', 'b')), NO_LIMIT);
    expect(decoder.tableSize).toBe(34);
  });

  it('rejects invalid table sizes', () => {
    expect(() => new HpackDecoder(-1)).toThrow(RangeError);
    expect(() => new HpackDecoder(1.5)).toThrow(RangeError);
    expect(() => new HpackDecoder().setMaxTableSize(2 ** 32)).toThrow(RangeError);
  });

  it('accepts list at the size limit', () => {
    const fields = new HpackDecoder().decode(hex('8284'), 2 * 32 + 7 + 3 + 5 + 1);
    expect(fields).toEqual([
      [':method', 'GET'],
      [':path', '/'],
    ]);
  });
});

describe('HpackDecoder errors', () => {
  function expectError(bytes: Uint8Array, message: string | RegExp, decoder = new HpackDecoder()): void {
    expect(() => decoder.decode(bytes, NO_LIMIT)).toThrow(HpackError);
    expect(() => decoder.decode(bytes, NO_LIMIT)).toThrow(message);
  }

  it('rejects index 0', () => {
    expectError(block(0x80), 'header block: index 0 at offset 0 is not a table entry');
  });

  it('rejects index beyond dynamic table', () => {
    const decoder = new HpackDecoder();
    for (const blockHex of c3RequestBlocks) {
      decoder.decode(hex(blockHex), NO_LIMIT);
    }
    expectError(
      block(0x82, encodeInteger(65, 7, 0x80)),
      'index 65 at offset 1 is beyond the dynamic table (3 entries)',
      decoder,
    );
  });

  it('rejects name index beyond table', () => {
    expectError(
      block(encodeInteger(62, 4, 0x00), rawString('v')),
      'index 62 at offset 0 is beyond the dynamic table (0 entries)',
    );
  });

  it('rejects integer above 2^31-1', () => {
    expectError(block(encodeInteger(2 ** 31, 7, 0x80)), 'integer at offset 0 exceeds 2^31-1');
    expectError(block(0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), 'integer at offset 0 exceeds 2^31-1');
  });

  it('accepts integer of 2^31-1', () => {
    // The integer itself decodes, so the error is about the size update.
    expectError(block(encodeInteger(2 ** 31 - 1, 5, 0x20)), 'dynamic table size update to 2147483647 exceeds');
  });

  it('rejects 6 continuation bytes', () => {
    // 127 with five redundant zero groups.
    expectError(
      block(0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00),
      'integer at offset 0 has more than 5 continuation bytes',
    );
  });

  it('rejects block ending in integer', () => {
    expectError(block(0xff), 'header block: ends at offset 1, inside the integer that starts at 0');
    expectError(block(0xff, 0x80), 'ends at offset 2, inside the integer that starts at 0');
  });

  it('rejects block ending in field', () => {
    expectError(block(0x04), 'header block: ends at offset 1, inside a field');
    expectError(block(0x40, rawString('name')), 'ends at offset 6, inside a field');
  });

  it('rejects string past block end', () => {
    expectError(
      block(0x00, 0x05, 0x61, 0x62),
      'string at offset 1 has length 5, but only 2 octets remain in the block',
    );
    expectError(block(0x04, 0x83, 0x61), 'string at offset 1 has length 3, but only 1 octets remain');
    expectError(block(0x44, 0x7f, 0x00), 'string at offset 1 has length 127, but only 0 octets remain');
  });

  it('rejects size update above limit', () => {
    expectError(
      block(encodeInteger(4097, 5, 0x20)),
      'dynamic table size update to 4097 exceeds the SETTINGS_HEADER_TABLE_SIZE limit of 4096',
    );
    const decoder = new HpackDecoder();
    decoder.setMaxTableSize(100);
    expectError(
      block(encodeInteger(101, 5, 0x20)),
      'update to 101 exceeds the SETTINGS_HEADER_TABLE_SIZE limit of 100',
      decoder,
    );
    // The limit itself is allowed.
    expect(new HpackDecoder().decode(block(encodeInteger(4096, 5, 0x20)), NO_LIMIT)).toEqual([]);
  });

  it('rejects size update after field', () => {
    expectError(block(0x82, 0x20), 'dynamic table size update at offset 1 follows a header field, but must come first');
  });

  it('rejects Huffman errors in block', () => {
    // A value of 'a' followed by 11 bits of padding.
    expectError(block(0x04, 0x82, 0x1f, 0xff), 'Huffman string: padding is 11 bits long');
  });

  it('stays failed after error', () => {
    const decoder = new HpackDecoder();
    expectError(block(0x80), 'index 0', decoder);
    expect(() => decoder.decode(hex('82'), NO_LIMIT)).toThrow('index 0');
  });

  describe('header list size', () => {
    it('rejects list over the limit', () => {
      // :method GET and :path / take 42 and 38 octets.
      const decoder = new HpackDecoder();
      expect(() => decoder.decode(hex('8284'), 79)).toThrow(HpackError);
      expect(() => new HpackDecoder().decode(hex('8284'), 79)).toThrow(
        'header block: header list exceeds the limit of 79 octets (name + value + 32 per field)',
      );
    });

    it('rejects repeated large references', () => {
      const decoder = new HpackDecoder();
      decoder.decode(block(literalField(0x40, 'x-big', 'v'.repeat(4000))), NO_LIMIT);
      const references = new Uint8Array(100_000).fill(0x80 | 62);
      expect(() => decoder.decode(references, 16_384)).toThrow('header list exceeds the limit of 16384 octets');
    });

    // The block ends right after the name, so a decoder that read the whole name
    // before checking the limit would report the truncated block instead.
    it('rejects raw name before value', () => {
      const bytes = block(0x00, rawString('n'.repeat(100)));
      expect(() => new HpackDecoder().decode(bytes, 100)).toThrow('header list exceeds the limit of 100 octets');
    });

    it('rejects Huffman name before value', () => {
      // 40 '0' symbols of 5 bits fill 25 octets of zeros.
      const bytes = block(0x00, 0x80 | 25, new Array<number>(25).fill(0));
      expect(() => new HpackDecoder().decode(bytes, 60)).toThrow('header list exceeds the limit of 60 octets');
      expect(new HpackDecoder().decode(block(bytes, 0x00), 72)).toEqual([['0'.repeat(40), '']]);
    });

    it('rejects raw value before indexing', () => {
      const decoder = new HpackDecoder();
      const bytes = block(literalField(0x40, 'x-big', 'v'.repeat(1000)));
      expect(() => decoder.decode(bytes, 500)).toThrow('header list exceeds the limit of 500 octets');
      expect(decoder.tableSize).toBe(0);
    });

    it('rejects Huffman value before indexing', () => {
      const decoder = new HpackDecoder();
      const bytes = block(0x40, rawString('x'), 0x80 | 25, new Array<number>(25).fill(0));
      expect(() => decoder.decode(bytes, 72)).toThrow('header list exceeds the limit of 72 octets');
      expect(decoder.tableSize).toBe(0);
    });
  });
});

describe('encodeHeaders', () => {
  it('encodes :status 200 as one octet', () => {
    expect(toHex(encodeHeaders([[':status', '200']]))).toBe('88');
  });

  it('indexes other exact static matches', () => {
    expect(toHex(encodeHeaders([[':status', '204']]))).toBe('89');
    expect(toHex(encodeHeaders([['accept-encoding', 'gzip, deflate']]))).toBe('90');
  });

  it('uses indexed name for status 413', () => {
    // Literal without indexing (0000xxxx) with name index 8, then "413" raw.
    expect(toHex(encodeHeaders([[':status', '413']]))).toBe('0803343133');
  });

  it('writes name index above 14', () => {
    // content-type is index 31: prefix 15, then 16.
    expect(toHex(encodeHeaders([['content-type', 'application/json']]))).toBe(
      '0f1010' + Buffer.from('application/json').toString('hex'),
    );
  });

  it('writes unknown names as literals', () => {
    expect(toHex(encodeHeaders([['x-a', 'b']]))).toBe('0003782d610162');
  });

  it('writes multi-octet value lengths', () => {
    const value = 'v'.repeat(300);
    const encoded = encodeHeaders([['x-a', value]]);
    // 300 = 127 + 173: prefix 127, then 173 as 0xad 0x01.
    expect(toHex(encoded.subarray(0, 8))).toBe('0003782d617fad01');
    expect(encoded.length).toBe(8 + 300);
  });

  it('decodes back to the input', () => {
    const headers: Field[] = [
      [':status', '200'],
      [':status', '413'],
      ['content-type', 'application/json'],
      ['content-length', '0'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['x-empty', ''],
      ['x-latin1', String.fromCharCode(0x80, 0xa0, 0xff)],
      ['x-long', 'q'.repeat(5000)],
      ['accept-encoding', 'gzip, deflate'],
    ];
    const decoder = new HpackDecoder();
    expect(decoder.decode(encodeHeaders(headers), NO_LIMIT)).toEqual(headers);
    expect(decoder.tableSize).toBe(0);
  });

  it('encodes an empty list', () => {
    expect(encodeHeaders([]).length).toBe(0);
  });

  it('rejects characters above U+00FF', () => {
    expect(() => encodeHeaders([['x-a', 'caf\u00e9 \u2713']])).toThrow(RangeError);
    expect(() => encodeHeaders([['x-\u2713', 'b']])).toThrow('name of header "x-\u2713" has a character above U+00FF');
  });
});
