/**
 * HPACK header compression (RFC 7541) for the HTTP/2 server: a decoder for
 * request header blocks and a stateless encoder for response header blocks.
 *
 * Strings are latin1: each octet of a name or value is one UTF-16 code unit
 * below 0x100, so a string's length is its length in octets.
 */

import { HpackError, huffmanDecode } from './huffman.js';

export { HpackError } from './huffman.js';

/** SETTINGS_HEADER_TABLE_SIZE before either side changes it (RFC 9113 section 6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/** Octets that RFC 7541 section 4.1 adds to name and value length to get an entry's size. */
const ENTRY_OVERHEAD = 32;

// Limits on decoded integers. RFC 7541 section 5.1 requires a decoder to reject
// integers beyond its limits in value or in octet length. No index or string
// length in a header block comes near 2^31-1, and five continuation bytes carry
// 35 bits, more than the 31 that the largest accepted value needs.
// NOTE: a size update above 2^31-1 fails here even if SETTINGS_HEADER_TABLE_SIZE
// (a uint32) allowed it.
const MAX_INTEGER = 0x7fffffff;
const MAX_CONTINUATION_BYTES = 5;

/** The static table of RFC 7541 Appendix A. Entry i is HPACK index i + 1. */
export const STATIC_TABLE: ReadonlyArray<readonly [name: string, value: string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * Decoder state of one HTTP/2 connection: the dynamic table of RFC 7541
 * section 2.3.2 and the limits on its size.
 *
 * Memory per decoder is a few fields plus the table entries: at most the table
 * size limit in octets of string data (4096 by default), plus the overhead of
 * the JavaScript arrays and strings.
 */
export class HpackDecoder {
  // Newest entry last, so HPACK index 62 is the last element. An insertion is a
  // push and an eviction a shift, which is cheap because a 4096-octet table
  // contains at most 128 entries.
  private readonly entries: Array<readonly [name: string, value: string]> = [];
  private size = 0;
  // Table size limit set by the peer's latest dynamic table size update (RFC 7541 section 6.3).
  private limit: number;
  // Upper bound for size updates: SETTINGS_HEADER_TABLE_SIZE as this endpoint advertised it.
  private maxLimit: number;
  private failure: HpackError | undefined;

  constructor(maxTableSize: number = DEFAULT_HEADER_TABLE_SIZE) {
    checkTableSize(maxTableSize);
    this.limit = maxTableSize;
    this.maxLimit = maxTableSize;
  }

  /**
   * Sets the limit this endpoint advertised in SETTINGS_HEADER_TABLE_SIZE and
   * the peer acknowledged. Later size updates may not exceed it. A limit below
   * the current table size evicts entries now.
   *
   * A raised limit does not grow the table, because the peer's encoder decides
   * with a size update when to use the room. RFC 7541 section 4.2 requires that update
   * at the start of the next header block after a reduction, but this decoder
   * applies the reduction at once and does not insist on the update.
   */
  setMaxTableSize(size: number): void {
    checkTableSize(size);
    this.maxLimit = size;
    if (this.limit > size) {
      this.limit = size;
      this.evictTo(size);
    }
  }

  /** Octets in the dynamic table by the accounting of RFC 7541 section 4.1: name + value + 32 per entry. */
  get tableSize(): number {
    return this.size;
  }

  /**
   * Decodes one complete header block and returns its fields in order.
   *
   * maxHeaderListSize limits the decoded list by the accounting of RFC 9113
   * section 6.5.2 (name + value + 32 per field). The check runs field by field,
   * and a raw string is checked before it is copied, so a block that exceeds it
   * fails before it allocates much.
   *
   * Throws HpackError for any violation of RFC 7541 and for a list over the
   * limit. After a throw the dynamic table is in an unknown state, so every later
   * call throws the same error and the connection must end with COMPRESSION_ERROR.
   */
  decode(block: Uint8Array, maxHeaderListSize: number): Array<[name: string, value: string]> {
    if (this.failure !== undefined) {
      throw this.failure;
    }
    try {
      return this.decodeBlock(new BlockReader(block), maxHeaderListSize);
    } catch (error) {
      if (error instanceof HpackError) {
        this.failure = error;
      }
      throw error;
    }
  }

  private decodeBlock(reader: BlockReader, maxHeaderListSize: number): Array<[name: string, value: string]> {
    const fields: Array<[name: string, value: string]> = [];
    let listSize = 0;

    while (!reader.done) {
      const start = reader.offset;
      const first = reader.peekByte();

      // Dynamic table size update: 001xxxxx (RFC 7541 section 6.3).
      if ((first & 0xe0) === 0x20) {
        // Section 4.2: a size update may only come before the first field of a block.
        if (fields.length > 0) {
          throw new HpackError(
            `header block: dynamic table size update at offset ${start} follows a header field, but must come first`,
          );
        }
        const size = reader.readInteger(5);
        if (size > this.maxLimit) {
          throw new HpackError(
            `header block: dynamic table size update to ${size} exceeds the SETTINGS_HEADER_TABLE_SIZE limit of ${this.maxLimit}`,
          );
        }
        this.limit = size;
        this.evictTo(size);
        continue;
      }

      let name: string;
      let value: string;
      if ((first & 0x80) !== 0) {
        // Indexed header field: 1xxxxxxx (section 6.1).
        const index = reader.readInteger(7);
        [name, value] = this.lookup(index, start);
      } else {
        // Literal header field: 01xxxxxx with incremental indexing (section 6.2.1),
        // 0000xxxx without indexing (6.2.2), 0001xxxx never indexed (6.2.3). A name
        // index of 0 means the name follows as a string literal.
        const indexing = (first & 0xc0) === 0x40;
        const nameIndex = reader.readInteger(indexing ? 6 : 4);
        if (nameIndex === 0) {
          name = reader.readString(maxHeaderListSize - listSize - ENTRY_OVERHEAD, maxHeaderListSize);
        } else {
          name = this.lookup(nameIndex, start)[0];
        }
        value = reader.readString(maxHeaderListSize - listSize - ENTRY_OVERHEAD - name.length, maxHeaderListSize);
        if (indexing) {
          this.insert(name, value);
        }
      }

      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxHeaderListSize) {
        throw headerListTooLarge(maxHeaderListSize);
      }
      fields.push([name, value]);
    }
    return fields;
  }

  private lookup(index: number, offset: number): readonly [name: string, value: string] {
    if (index === 0) {
      throw new HpackError(`header block: index 0 at offset ${offset} is not a table entry (RFC 7541 section 6.1)`);
    }
    if (index <= STATIC_TABLE.length) {
      return STATIC_TABLE[index - 1] as readonly [string, string];
    }
    const entry = this.entries[this.entries.length - (index - STATIC_TABLE.length)];
    if (entry === undefined) {
      throw new HpackError(
        `header block: index ${index} at offset ${offset} is beyond the dynamic table (${this.entries.length} entries)`,
      );
    }
    return entry;
  }

  // Adds an entry by RFC 7541 section 4.4: evict the oldest entries until the new
  // one fits. An entry larger than the limit empties the table and is not added,
  // which is not an error.
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.limit) {
      this.entries.length = 0;
      this.size = 0;
      return;
    }
    this.evictTo(this.limit - entrySize);
    this.entries.push([name, value]);
    this.size += entrySize;
  }

  private evictTo(targetSize: number): void {
    while (this.size > targetSize) {
      const oldest = this.entries.shift();
      if (oldest === undefined) {
        throw new Error(`HpackDecoder: internal error, table size ${this.size} with no entries`);
      }
      this.size -= oldest[0].length + oldest[1].length + ENTRY_OVERHEAD;
    }
  }
}

function checkTableSize(size: number): void {
  // SETTINGS values are 32-bit unsigned integers (RFC 9113 section 6.5.1).
  if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) {
    throw new RangeError(`HpackDecoder: table size ${size} is not a uint32`);
  }
}

function headerListTooLarge(maxHeaderListSize: number): HpackError {
  return new HpackError(
    `header block: header list exceeds the limit of ${maxHeaderListSize} octets (name + value + 32 per field)`,
  );
}

/** Read position in one header block. Every read checks the block's bounds. */
class BlockReader {
  offset = 0;
  private readonly buffer: Buffer;

  constructor(block: Uint8Array) {
    this.buffer = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  }

  get done(): boolean {
    return this.offset >= this.buffer.length;
  }

  peekByte(): number {
    const byte = this.buffer[this.offset];
    if (byte === undefined) {
      throw new HpackError(`header block: ends at offset ${this.offset}, inside a field`);
    }
    return byte;
  }

  /** Reads an integer with a prefixBits-bit prefix in the current byte (RFC 7541 section 5.1). */
  readInteger(prefixBits: number): number {
    const start = this.offset;
    const prefixMax = (1 << prefixBits) - 1;
    let value = this.peekByte() & prefixMax;
    this.offset++;
    if (value < prefixMax) {
      return value;
    }

    // Continuation bytes carry 7 bits each, least significant group first.
    // Multiplying instead of shifting keeps the sum exact past 32 bits.
    let multiplier = 1;
    for (let count = 1; ; count++) {
      if (count > MAX_CONTINUATION_BYTES) {
        throw new HpackError(
          `header block: integer at offset ${start} has more than ${MAX_CONTINUATION_BYTES} continuation bytes`,
        );
      }
      const byte = this.buffer[this.offset];
      if (byte === undefined) {
        throw new HpackError(`header block: ends at offset ${this.offset}, inside the integer that starts at ${start}`);
      }
      this.offset++;
      value += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (value > MAX_INTEGER) {
        throw new HpackError(`header block: integer at offset ${start} exceeds 2^31-1`);
      }
      if ((byte & 0x80) === 0) {
        return value;
      }
    }
  }

  /**
   * Reads a string literal (RFC 7541 section 5.2). Throws the header list size
   * error when the decoded string is longer than budget octets. A raw string is
   * checked before it is copied.
   */
  readString(budget: number, maxHeaderListSize: number): string {
    const start = this.offset;
    const huffman = (this.peekByte() & 0x80) !== 0;
    const length = this.readInteger(7);
    const remaining = this.buffer.length - this.offset;
    if (length > remaining) {
      throw new HpackError(
        `header block: string at offset ${start} has length ${length}, but only ${remaining} octets remain in the block`,
      );
    }

    const end = this.offset + length;
    let text: string;
    if (huffman) {
      // The decoded length is only known after decoding, which allocates at most
      // 8/5 of the encoded length.
      text = huffmanDecode(this.buffer.subarray(this.offset, end));
      if (text.length > budget) {
        throw headerListTooLarge(maxHeaderListSize);
      }
    } else {
      if (length > budget) {
        throw headerListTooLarge(maxHeaderListSize);
      }
      text = this.buffer.toString('latin1', this.offset, end);
    }
    this.offset = end;
    return text;
  }
}

// Static table lookups for the encoder: the first index of each name, and the
// index of each name and value pair.
const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_FIELD_INDEX = new Map<string, Map<string, number>>();
for (const [i, [name, value]] of STATIC_TABLE.entries()) {
  const index = i + 1;
  if (!STATIC_NAME_INDEX.has(name)) {
    STATIC_NAME_INDEX.set(name, index);
  }
  let values = STATIC_FIELD_INDEX.get(name);
  if (values === undefined) {
    values = new Map();
    STATIC_FIELD_INDEX.set(name, values);
  }
  values.set(value, index);
}

/**
 * Encodes response headers as one header block without touching any dynamic
 * table, so the peer's decoder state never depends on this side.
 *
 * A field whose name and value match a static entry becomes an indexed field
 * (":status: 200" is the single octet 0x88). Any other field becomes a literal
 * without indexing (RFC 7541 section 6.2.2), with the static index of its name
 * when one exists. Strings are written raw, without Huffman coding.
 *
 * Names and values are latin1. Throws RangeError for a character above U+00FF,
 * which has no single-octet form. The caller is responsible for lowercase names
 * and the other field rules of RFC 9113 section 8.2.
 */
export function encodeHeaders(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  let length = 0;
  for (const [name, value] of headers) {
    checkLatin1(name, 'name', name);
    checkLatin1(value, 'value', name);
    const fieldIndex = STATIC_FIELD_INDEX.get(name)?.get(value);
    if (fieldIndex !== undefined) {
      length += integerLength(fieldIndex, 7);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    length += nameIndex === undefined ? 1 + stringLength(name) : integerLength(nameIndex, 4);
    length += stringLength(value);
  }

  const out = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const [name, value] of headers) {
    const fieldIndex = STATIC_FIELD_INDEX.get(name)?.get(value);
    if (fieldIndex !== undefined) {
      offset = writeInteger(out, offset, fieldIndex, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex === undefined) {
      out[offset++] = 0x00;
      offset = writeString(out, offset, name);
    } else {
      offset = writeInteger(out, offset, nameIndex, 4, 0x00);
    }
    offset = writeString(out, offset, value);
  }
  return out;
}

function checkLatin1(text: string, part: 'name' | 'value', name: string): void {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) {
      throw new RangeError(`encodeHeaders: ${part} of header ${JSON.stringify(name)} has a character above U+00FF`);
    }
  }
}

function integerLength(value: number, prefixBits: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    return 1;
  }
  let length = 2;
  for (let rest = value - prefixMax; rest >= 0x80; rest = Math.floor(rest / 0x80)) {
    length++;
  }
  return length;
}

function stringLength(text: string): number {
  return integerLength(text.length, 7) + text.length;
}

// Writes an integer with a prefixBits-bit prefix (RFC 7541 section 5.1). The
// flags are the representation's pattern bits above the prefix.
function writeInteger(out: Buffer, offset: number, value: number, prefixBits: number, flags: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    out[offset++] = flags | value;
    return offset;
  }
  out[offset++] = flags | prefixMax;
  let rest = value - prefixMax;
  while (rest >= 0x80) {
    out[offset++] = 0x80 | (rest & 0x7f);
    rest = Math.floor(rest / 0x80);
  }
  out[offset++] = rest;
  return offset;
}

// Writes a raw string literal: H bit 0 and a 7-bit prefix length.
function writeString(out: Buffer, offset: number, text: string): number {
  offset = writeInteger(out, offset, text.length, 7, 0x00);
  return offset + out.write(text, offset, 'latin1');
}
