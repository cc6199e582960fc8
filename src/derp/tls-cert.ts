/**
 * The relay's TLS certificate. An operator may configure a certificate and key. Without them the
 * relay makes a self-signed ECDSA P-256 certificate for its host name and addresses, keeps it in
 * the data folder and pins it in the DERP map as `CertName: "sha256-raw:<hex>"`. Tailscale
 * clients (tailscale.com/net/tlsdial v1.92.5) then accept exactly that certificate, provided it
 * is the only one presented, is valid now and matches the node's HostName.
 */
import 'reflect-metadata';

import { X509Certificate, createHash, createPrivateKey, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface DerpCertificate {
  /** PEM certificate, or chain for a configured certificate. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** `sha256-raw:<hex>` for a self-signed certificate, undefined for a configured one. */
  certName: string | undefined;
  notAfter: Date;
  /** Origin of the pair: read from the configured files, reused from the data folder, or created now for the given reason. */
  origin: { kind: 'configured' | 'reused' } | { kind: 'created'; reason: string };
}

export interface CertificateOptions {
  /** Folder for the self-signed certificate and key files. */
  dataDir: string;
  /** The DERP node's HostName: a DNS name or an IP address. */
  hostName: string;
  /** Further IP addresses clients may dial, added as IP subject alternative names. */
  ipAddresses: string[];
  /** A configured certificate (PEM, leaf first) and key; both or neither. */
  certPath?: string | undefined;
  keyPath?: string | undefined;
  now?: Date;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

/**
 * Self-signed certificates last a year, as cmd/derper's do (clients such as macOS reject longer
 * ones), and are renewed at start-up once less than RENEW_BEFORE_DAYS is left.
 */
// NOTE: renewal happens only at start-up, so a coordinator that runs for a whole year without a
// restart serves an expired certificate, which clients reject.
const VALIDITY_DAYS = 365;
const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

export const SELF_SIGNED_CERT_FILE = 'derp-tls.crt';
export const SELF_SIGNED_KEY_FILE = 'derp-tls.key';

/**
 * Loads the configured certificate, or reuses or creates the self-signed one.
 * @throws {CertificateError} for a configured pair that cannot be read or does not belong together.
 */
export async function loadOrCreateCertificate(options: CertificateOptions): Promise<DerpCertificate> {
  if (options.certPath !== undefined || options.keyPath !== undefined) return loadConfigured(options);

  const now = options.now ?? new Date();
  const certFile = path.join(options.dataDir, SELF_SIGNED_CERT_FILE);
  const keyFile = path.join(options.dataDir, SELF_SIGNED_KEY_FILE);
  const names = subjectNames(options);
  const kept = readKept(certFile, keyFile);
  const problem = kept === undefined ? 'no certificate yet' : renewalReason(kept.certificate, kept.keyPem, names, now);
  if (kept !== undefined && problem === undefined) {
    return { cert: kept.certPem, key: kept.keyPem, certName: pinOf(kept.certificate), notAfter: new Date(kept.certificate.validTo), origin: { kind: 'reused' } };
  }

  const created = await createSelfSigned(names, now);
  writeAtomically(keyFile, created.key, 0o600);
  writeAtomically(certFile, created.cert, 0o644);
  const certificate = new X509Certificate(created.cert);
  return { ...created, certName: pinOf(certificate), notAfter: new Date(certificate.validTo), origin: { kind: 'created', reason: problem! } };
}

/** Computes the `CertName` pin of a certificate: the SHA-256 of its DER bytes in lower-case hex. */
export function pinOf(certificate: X509Certificate): string {
  return `sha256-raw:${createHash('sha256').update(certificate.raw).digest('hex')}`;
}

interface SubjectNames {
  hostName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

function subjectNames(options: CertificateOptions): SubjectNames {
  const ipAddresses = new Set<string>();
  const dnsNames: string[] = [];
  if (net.isIP(options.hostName) !== 0) ipAddresses.add(options.hostName);
  else dnsNames.push(options.hostName);
  for (const address of options.ipAddresses) ipAddresses.add(address);
  return { hostName: options.hostName, dnsNames, ipAddresses: [...ipAddresses] };
}

function readKept(certFile: string, keyFile: string): { certificate: X509Certificate; certPem: string; keyPem: string } | undefined {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = fs.readFileSync(certFile, 'utf8');
    keyPem = fs.readFileSync(keyFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return { certificate: new X509Certificate(certPem), certPem, keyPem };
  } catch {
    return undefined;
  }
}

/** Returns why a kept self-signed certificate must be replaced, or undefined when it can stay. */
function renewalReason(certificate: X509Certificate, keyPem: string, names: SubjectNames, now: Date): string | undefined {
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) return 'the key file does not match the certificate';
  } catch {
    return 'the key file does not contain a private key';
  }
  const notAfter = new Date(certificate.validTo).getTime();
  if (notAfter - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return `it expires on ${certificate.validTo}`;
  if (new Date(certificate.validFrom).getTime() > now.getTime()) return `it is not valid before ${certificate.validFrom}`;
  for (const name of names.dnsNames) if (certificate.checkHost(name, { wildcards: false }) === undefined) return `it does not cover the host name ${name}`;
  for (const address of names.ipAddresses) if (certificate.checkIP(address) === undefined) return `it does not cover the address ${address}`;
  return undefined;
}

async function createSelfSigned(names: SubjectNames, now: Date): Promise<{ cert: string; key: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const alternativeNames: ConstructorParameters<typeof x509.SubjectAlternativeNameExtension>[0] = [
    ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    // A positive 128-bit serial number; the leading byte stays below 0x80.
    serialNumber: `01${Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex')}`,
    name: [{ CN: [names.hostName] }],
    // An hour of slack for clients whose clock runs a little behind.
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(alternativeNames),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: certificate.toString('pem') + '\n', key: toPem('PRIVATE KEY', pkcs8) };
}

function loadConfigured(options: CertificateOptions): DerpCertificate {
  const { certPath, keyPath } = options;
  if (certPath === undefined || keyPath === undefined) {
    throw new CertificateError('derp.tls.cert_path and derp.tls.key_path must be set together');
  }
  const read = (file: string, setting: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new CertificateError(`cannot read ${setting} ${file}: ${(error as Error).message}`);
    }
  };
  const cert = read(certPath, 'derp.tls.cert_path');
  const key = read(keyPath, 'derp.tls.key_path');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new CertificateError(`derp.tls.cert_path ${certPath} does not contain a PEM certificate: ${(error as Error).message}`);
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) {
      throw new CertificateError(`derp.tls.key_path ${keyPath} does not contain the private key of the certificate in ${certPath}`);
    }
  } catch (error) {
    if (error instanceof CertificateError) throw error;
    throw new CertificateError(`derp.tls.key_path ${keyPath} does not contain a PEM private key: ${(error as Error).message}`);
  }
  return { cert, key, certName: undefined, notAfter: new Date(certificate.validTo), origin: { kind: 'configured' } };
}

/**
 * Returns the names the relay's clients dial that a configured certificate does not cover,
 * so start-up can warn about them.
 */
export function uncoveredNames(certPem: string, hostName: string): string[] {
  const certificate = new X509Certificate(certPem);
  const covered = net.isIP(hostName) !== 0 ? certificate.checkIP(hostName) : certificate.checkHost(hostName);
  return covered === undefined ? [hostName] : [];
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function writeAtomically(file: string, contents: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, contents, { mode });
  fs.renameSync(temporary, file);
}
