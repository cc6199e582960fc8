import { describe, expect, it } from 'vitest';

import { goHuffmanStrings } from './hpack-go-vectors.js';
import { EOS_SYMBOL, HUFFMAN_CODES, HpackError, huffmanDecode } from './huffman.js';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

// Packs the codes of symbols MSB first and pads the last octet with ones, as
// RFC 7541 section 5.2 requires. Symbols may include EOS to build invalid input.
function huffmanEncode(symbols: Iterable<number>): Uint8Array {
  let bits = '';
  for (const symbol of symbols) {
    const [code, length] = HUFFMAN_CODES[symbol] ?? [0, 0];
    bits += code.toString(2).padStart(length, '0');
  }
  if (bits.length % 8 !== 0) {
    bits += '1'.repeat(8 - (bits.length % 8));
  }
  const out = new Uint8Array(bits.length / 8);
  for (let i = 0; i < out.length; i++) {
    out[i] = Number.parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  }
  return out;
}

const bytesOf = (text: string): number[] => [...Buffer.from(text, 'latin1')];

describe('HUFFMAN_CODES', () => {
  it('has 256 octets and EOS', () => {
    expect(HUFFMAN_CODES).toHaveLength(257);
    expect(EOS_SYMBOL).toBe(256);
    expect(HUFFMAN_CODES[EOS_SYMBOL]).toEqual([0x3fffffff, 30]);
  });

  it('matches spot entries of Appendix B', () => {
    expect(HUFFMAN_CODES[0]).toEqual([0x1ff8, 13]);
    expect(HUFFMAN_CODES[0x20]).toEqual([0x14, 6]);
    expect(HUFFMAN_CODES[0x30]).toEqual([0x0, 5]);
    expect(HUFFMAN_CODES[0x61]).toEqual([0x3, 5]);
    expect(HUFFMAN_CODES[0x5c]).toEqual([0x7fff0, 19]);
    expect(HUFFMAN_CODES[0x0a]).toEqual([0x3ffffffc, 30]);
    expect(HUFFMAN_CODES[0xff]).toEqual([0x3ffffee, 26]);
  });

  it('codes fit their lengths', () => {
    for (const [symbol, [code, length]] of HUFFMAN_CODES.entries()) {
      expect(length, `symbol ${symbol}`).toBeGreaterThanOrEqual(5);
      expect(length, `symbol ${symbol}`).toBeLessThanOrEqual(30);
      expect(code, `symbol ${symbol}`).toBeLessThan(2 ** length);
    }
  });

  // A prefix code whose Kraft sum is exactly 1 leaves no bit pattern unassigned,
  // so a typo in a code or a length would show up here or in the decode tree.
  it('is a complete prefix code', () => {
    let kraftSum = 0;
    for (const [, length] of HUFFMAN_CODES) {
      kraftSum += 2 ** (30 - length);
    }
    expect(kraftSum).toBe(2 ** 30);
  });
});

describe('huffmanDecode', () => {
  it('decodes C.4 and C.6 strings', () => {
    const cases: Array<[string, string]> = [
      ['f1e3c2e5f23a6ba0ab90f4ff', 'www.example.com'],
      ['a8eb10649cbf', 'no-cache'],
      ['25a849e95ba97d7f', 'custom-key'],
      ['25a849e95bb8e8b4bf', 'custom-value'],
      ['6402', '302'],
      ['aec3771a4b', 'private'],
      ['d07abe941054d444a8200595040b8166e082a62d1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29ad171863c78f0b97c8e9ae82ae43d3', 'https://www.example.com'],
      ['640eff', '307'],
      ['9bd9ab', 'gzip'],
      [
        '94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
        'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
      ],
    ];
    for (const [encoded, text] of cases) {
      expect(huffmanDecode(hex(encoded))).toBe(text);
    }
  });

  it('decodes strings from Go', () => {
    for (const vector of goHuffmanStrings) {
      expect(huffmanDecode(hex(vector.huffmanHex)), vector.note).toBe(latin1(hex(vector.plainHex)));
    }
  });

  it('encodes like Go with the table', () => {
    for (const vector of goHuffmanStrings) {
      expect(Buffer.from(huffmanEncode(hex(vector.plainHex))).toString('hex'), vector.note).toBe(vector.huffmanHex);
    }
  });

  it('decodes every octet alone', () => {
    for (let octet = 0; octet < 256; octet++) {
      expect(huffmanDecode(huffmanEncode([octet])), `octet ${octet}`).toBe(String.fromCharCode(octet));
    }
  });

  it('decodes empty input', () => {
    expect(huffmanDecode(new Uint8Array(0))).toBe('');
  });

  it('accepts 0 to 7 padding bits', () => {
    // Eight '0' symbols of 5 bits fill 5 octets exactly.
    expect(huffmanDecode(huffmanEncode(bytesOf('00000000')))).toBe('00000000');
    // 'a' is 00011, so one octet carries 3 bits of padding and 0x1f has them all ones.
    expect(huffmanDecode(Uint8Array.of(0x1f))).toBe('a');
    // '0' + 'a' take 10 bits, so 6 bits of padding follow.
    expect(huffmanDecode(huffmanEncode(bytesOf('0a')))).toBe('0a');
    // ':' (1011100) leaves exactly 1 bit, and '0' + '0' + ':' leave 7.
    expect(huffmanDecode(huffmanEncode(bytesOf('00:')))).toBe('00:');
  });

  it('rejects the EOS symbol', () => {
    // EOS, then 'a', then 5 bits of valid padding.
    const input = huffmanEncode([EOS_SYMBOL, 0x61]);
    expect(Buffer.from(input).toString('hex')).toBe('fffffffc7f');
    expect(() => huffmanDecode(input)).toThrow(HpackError);
    expect(() => huffmanDecode(input)).toThrow('Huffman string: contains the EOS symbol');
  });

  it('rejects EOS used as padding', () => {
    expect(() => huffmanDecode(Uint8Array.of(0x1f, 0xff, 0xff, 0xff, 0xfe))).toThrow('contains the EOS symbol');
  });

  it('rejects 8 or more padding bits', () => {
    // 'a' then 11 bits of ones: all ones, so only the length is wrong.
    expect(() => huffmanDecode(Uint8Array.of(0x1f, 0xff))).toThrow(HpackError);
    expect(() => huffmanDecode(Uint8Array.of(0x1f, 0xff))).toThrow('padding is 11 bits long, more than 7');
    expect(() => huffmanDecode(Uint8Array.of(0xff))).toThrow('padding is 8 bits long, more than 7');
  });

  it('rejects padding not all ones', () => {
    // 'a' (00011) then 000.
    expect(() => huffmanDecode(Uint8Array.of(0x18))).toThrow(HpackError);
    expect(() => huffmanDecode(Uint8Array.of(0x18))).toThrow('padding is not all ones');
    // 'a' then 110: the zero is the last bit.
    expect(() => huffmanDecode(Uint8Array.of(0x1e))).toThrow('padding is not all ones');
  });

  it('rejects a truncated code', () => {
    // The first 16 bits of the 23-bit code of octet 1 (11111111 11111111 1011000).
    expect(() => huffmanDecode(Uint8Array.of(0xff, 0xff))).toThrow(HpackError);
    expect(() => huffmanDecode(Uint8Array.of(0xff, 0xff))).toThrow('padding is 16 bits long');
    // Octet 0 (1111111111000) followed by 000, the start of the 5-bit code of '0'.
    expect(() => huffmanDecode(Uint8Array.of(0xff, 0xc0))).toThrow('padding is not all ones');
  });
});
