import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { canonicalJson, sha256Hex } from '../crypto/canonical-json.js';
import { UserError } from '../errors.js';

/** A signed statement of the log's Merkle root at a size. Anyone with the public key can check it offline. */
export interface Checkpoint {
  format: 'aos-checkpoint/1';
  treeSize: number;
  /** RFC 9162 Merkle root (hex) over the first `treeSize` record hashes. */
  rootHash: string;
  /** The last record's hash, for a quick look. */
  headHash: string;
  timestamp: string;
  /** SHA-256 (hex) of the DER public key. */
  keyId: string;
  /** Ed25519 public key, SPKI PEM. */
  publicKey: string;
  /** Base64 Ed25519 signature over the canonical JSON of every field above. */
  signature: string;
}

/** The audit signing key of a node. */
export interface SigningKey {
  privateKey: crypto.KeyObject;
  publicKeyPem: string;
  keyId: string;
}

/** File name of the signing key inside the data directory. */
export const SIGNING_KEY_FILE = 'audit-signing-key.pem';

function keyIdOf(publicKey: crypto.KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' }));
}

function fromPrivatePem(pem: string, source: string): SigningKey {
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(pem);
  } catch {
    throw new UserError(`${source} is not a PEM private key`, { field: 'audit-signing-key' });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new UserError(`${source} must be an Ed25519 key`, { field: 'audit-signing-key' });
  }
  const publicKey = crypto.createPublicKey(privateKey);
  return {
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/**
 * Loads the node's Ed25519 audit signing key: from `AOS_AUDIT_SIGNING_KEY` (PEM) when set — so several nodes can
 * share one key — else from the data directory, creating it (mode 0600) when `create` is set.
 */
export function loadSigningKey(dataDir: string, options: { create: boolean }): SigningKey | undefined {
  const fromEnv = process.env.AOS_AUDIT_SIGNING_KEY;
  if (fromEnv) return fromPrivatePem(fromEnv, 'AOS_AUDIT_SIGNING_KEY');
  const file = path.join(dataDir, SIGNING_KEY_FILE);
  if (fs.existsSync(file)) return fromPrivatePem(fs.readFileSync(file, 'utf8'), file);
  if (!options.create) return undefined;
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  fs.mkdirSync(dataDir, { recursive: true });
  // 'wx' fails if another process created it meanwhile; then use theirs.
  try {
    fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return fromPrivatePem(fs.readFileSync(file, 'utf8'), file);
  }
  return fromPrivatePem(pem, file);
}

function unsignedBody(c: Omit<Checkpoint, 'signature'>): string {
  return canonicalJson({
    format: c.format,
    treeSize: c.treeSize,
    rootHash: c.rootHash,
    headHash: c.headHash,
    timestamp: c.timestamp,
    keyId: c.keyId,
    publicKey: c.publicKey,
  });
}

/** Signs a checkpoint for a tree size and root. */
export function signCheckpoint(
  key: SigningKey,
  state: { treeSize: number; rootHash: string; headHash: string; timestamp?: string },
): Checkpoint {
  const body = {
    format: 'aos-checkpoint/1' as const,
    treeSize: state.treeSize,
    rootHash: state.rootHash,
    headHash: state.headHash,
    timestamp: state.timestamp ?? new Date().toISOString(),
    keyId: key.keyId,
    publicKey: key.publicKeyPem,
  };
  const signature = crypto.sign(null, Buffer.from(unsignedBody(body)), key.privateKey).toString('base64');
  return { ...body, signature };
}

/**
 * Checks a checkpoint's signature, and that it was made by `trustedKeyPem` when one is given (else by the key it
 * names). Answers the reason it fails, or undefined when it holds.
 */
export function checkCheckpointSignature(c: Checkpoint, trustedKeyPem?: string): string | undefined {
  if (c.format !== 'aos-checkpoint/1') return `unknown checkpoint format ${String(c.format)}`;
  let publicKey: crypto.KeyObject;
  try {
    publicKey = crypto.createPublicKey(trustedKeyPem ?? c.publicKey);
  } catch {
    return 'checkpoint public key is unreadable';
  }
  if (keyIdOf(publicKey) !== c.keyId) return 'checkpoint was signed by a different key than the trusted one';
  const ok = crypto.verify(null, Buffer.from(unsignedBody(c)), publicKey, Buffer.from(c.signature, 'base64'));
  return ok ? undefined : 'checkpoint signature is invalid';
}

/** Parses a checkpoint file's JSON, naming the file on failure. */
export function parseCheckpoint(text: string, source: string): Checkpoint {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch {
    throw new UserError(`${source} is not JSON`, { field: 'checkpoint' });
  }
  const cp = c as Partial<Checkpoint>;
  if (
    !cp ||
    cp.format !== 'aos-checkpoint/1' ||
    typeof cp.treeSize !== 'number' ||
    typeof cp.rootHash !== 'string' ||
    typeof cp.signature !== 'string' ||
    typeof cp.publicKey !== 'string' ||
    typeof cp.keyId !== 'string'
  ) {
    throw new UserError(`${source} is not an aos checkpoint`, { field: 'checkpoint' });
  }
  return cp as Checkpoint;
}
